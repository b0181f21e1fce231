from django.urls import path

from chat import streaming, views

app_name = "chat"

urlpatterns = [
    path("", views.home, name="home"),
    path("new/", views.start, name="start"),
    path("c/<uuid:public_id>/", views.conversation, name="conversation"),
    path("c/<uuid:public_id>/earlier/", views.earlier, name="earlier"),
    path("c/<uuid:public_id>/send/", views.send, name="send"),
    path("c/<uuid:public_id>/send/stream/", streaming.send_and_stream, name="send_and_stream"),
    path("c/<uuid:public_id>/preview/", views.preview, name="preview"),
    path("c/<uuid:public_id>/export.<str:fmt>", views.export, name="export"),
    path("c/<uuid:public_id>/rename/", views.rename, name="rename"),
    path("c/<uuid:public_id>/delete/", views.delete, name="delete"),
    path("m/<uuid:public_id>/", views.turn, name="turn"),
    path("m/<uuid:public_id>/stream/", streaming.answer_stream, name="stream"),
    path("m/<uuid:public_id>/stop/", views.stop, name="stop"),
    path("m/<uuid:public_id>/retry/", views.retry, name="retry"),
]

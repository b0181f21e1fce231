"""What ships with Steward: the default quiz questions and the first draft of the policy text.

The questions are written from the four default categories (1 Public,
2 Internal, 3 Confidential / personal data, 4 Prohibited); policy admins edit,
add and switch them off under Training → Quiz questions.
"""

WHICH = "which_category"
CHOICE = "choice"

# (category number, kind, prompt, options, answer, explanation)
DEFAULT_QUESTIONS: list[tuple[int, str, str, list[str], int, str]] = [
    # --- 1 Public ---
    (1, WHICH, "A press release the company published last week — which category?", [], 1,
     "It is already public: anyone could read it on the website."),
    (1, WHICH, "The documentation of an open-source library you use — which category?", [], 1,
     "Published documentation is public information."),
    (1, WHICH, "This quarter's sales figures, before they are announced — which category?", [], 3,
     "Unreleased figures are confidential business data, even if they will be public later."),
    (1, CHOICE, "Where do you see what Steward will do with a message before it leaves?",
     ["In the preview under the message box", "Nowhere: you find out afterwards",
      "In an email from the policy admin"], 0,
     "The preview under the message box says what will be replaced or blocked before you send."),
    # --- 2 Internal ---
    (2, WHICH, "Meeting notes about the office move, with no names in them — which category?", [],
     2, "Everyday company information that is not about identifiable people or clients."),
    (2, WHICH, "Code from an internal tool, without keys or customer data — which category?", [],
     2, "Ordinary internal code is Internal; remove keys and customer data first."),
    (2, WHICH, "A colleague's sick-leave record — which category?", [], 4,
     "Health data is sensitive personal data: it must never be sent to any model."),
    (2, CHOICE, "You paste a customer's email address into an Internal conversation. What does "
     "Steward do by default?",
     ["Sends it as it is", "Deletes your conversation",
      "Replaces it with a placeholder such as [EMAIL_1] before it leaves"], 2,
     "Personal identifiers are replaced by placeholders below the confidential level; you see "
     "the real value back in the answer, the model never does."),
    # --- 3 Confidential / personal data ---
    (3, WHICH, "A customer's email thread — which category?", [], 3,
     "It is about identifiable people and a client: Confidential / personal data."),
    (3, WHICH, "A client's contract you want summarised — which category?", [], 3,
     "Contracts are confidential business data."),
    (3, WHICH, "A database password you want to debug with — which category?", [], 4,
     "Passwords, private keys and API tokens must never be sent anywhere."),
    (3, CHOICE, "Where may a Confidential conversation be answered?",
     ["By any enabled model", "Only by models on our own infrastructure (on-premise or private "
      "cloud)", "Only by consumer chat apps"], 1,
     "Confidential and personal data never leaves our own infrastructure."),
    # --- 4 Prohibited ---
    (4, WHICH, "An API token for the payment provider — which category?", [], 4,
     "Credentials are Prohibited: never paste them. Steward replaces the keys it recognises, "
     "but cannot recognise every one."),
    (4, WHICH, "Privileged advice from the company's lawyers — which category?", [], 4,
     "Legal privilege is lost when it is shared: never send it to a model."),
    (4, WHICH, "A published blog post about the company's products — which category?", [], 1,
     "It is already public."),
    (4, CHOICE, "What happens to a message Steward blocks?",
     ["It is stored and reviewed by the policy admin", "It is sent anyway after a warning",
      "Nothing is sent and its text is not stored; the attempt is recorded"], 2,
     "A blocked message keeps only its size and the reasons; nobody can read it, not even admins."),
]  # fmt: skip

DEFAULT_POLICY_TITLE = "Using language models at work"

DEFAULT_POLICY_BODY = """\
## Why this policy exists

Language models are useful, and most leaks are accidents: someone pastes a document
without thinking. Steward checks every message before it leaves, but you are the
first line of defence.

## The rules

1. **Choose the category for what you are about to paste**, not for the question you
   ask. When in doubt, choose the higher one. The [quick-reference cards](/training/cards/)
   say what belongs in each.
2. **Never paste credentials** (passwords, API keys, private keys, tokens), privileged
   legal advice, or health, biometric or criminal-record data, in any category. Steward
   cannot recognise most of these, so keeping them out is up to you: it replaces the keys
   and tokens it does recognise with a placeholder, but it cannot tell legal advice or
   health data from any other text.
3. **Personal data and client data** belong in the Confidential category only. Those
   conversations are answered by models on our own infrastructure.
4. **Read the preview** under the message box: it says what Steward will replace or block
   before anything is sent.
5. **Check the answer.** A model can be wrong. You are responsible for what you use.

## What Steward does

- Replaces the personal identifiers and secrets it recognises with placeholders such as
  `[EMAIL_1]`, as each category's card shows; you see the real values back in the
  answer, the model never does.
- Blocks every message in the Prohibited category, and any message a company rule
  blocks: nothing is sent, the text is not stored, and the attempt is recorded.
- Sends each message only to a model its category allows, and records every call.
- Keeps conversations only as long as the category allows, then deletes them.

Only you can read your conversations. Administrators see who, when, which category and
what was detected, never the text.

## Questions

Ask your policy admin or the privacy officer.
"""

"""AWS Bedrock through ``boto3``'s ``bedrock-runtime``: ConverseStream answers, Converse checks.

Region, model id (or inference profile) and credentials come from the backend
when it names them, else from AWS's standard sources: the environment, the
shared profile (``AWS_PROFILE``), or the instance's or task's role. A stored
key is ``ACCESS_KEY_ID:SECRET_ACCESS_KEY`` with an optional ``:SESSION_TOKEN``.
"""

from __future__ import annotations

import boto3
import urllib3.exceptions
from botocore import eventstream
from botocore import exceptions as aws
from botocore.config import Config

from chat.llm.adapter import (
    STOPPED,
    Adapter,
    ChatMessage,
    LLMError,
    Sampling,
    Usage,
    alternating_turns,
)
from chat.llm.anthropic_adapter import ANTHROPIC_FINISH

#: The longest answer asked for (some models' defaults are a few hundred tokens).
MAX_TOKENS = 4096
#: One attempt, as with the other backends: a retry would only delay the first token
#: unseen, while the answer's own Retry, and the other approved backends, are visible.
ATTEMPTS = 1
SECRETS = ("aws_secret_access_key", "aws_session_token")
#: What Bedrock's error codes mean, as the HTTP status the other backends would answer.
STATUS_OF = {
    "throttling": 429,
    "servicequotaexceeded": 429,
    "accessdenied": 403,
    "unrecognizedclient": 401,
    "invalidsignature": 401,
    "expiredtoken": 401,
    "validation": 400,
    "resourcenotfound": 404,
    "modelnotready": 503,
    "serviceunavailable": 503,
    "modelstreamerror": 502,
    "modelerror": 502,
    "internalserver": 500,
}


class BedrockAdapter(Adapter):
    """Bedrock's Converse API; the answer streams in AWS's event-stream framing."""

    def __init__(self, backend, key):
        super().__init__(backend, key)
        self.region = backend.region
        self.client_scope = (self.region,)
        parts = key.split(":") if key else []
        if key and len(parts) not in (2, 3):
            raise LLMError(
                f"The key of {self.name} must be ACCESS_KEY_ID:SECRET_ACCESS_KEY "
                "(and :SESSION_TOKEN for temporary credentials).",
                kind="config",
            )
        names = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
        self._credentials = dict(zip(names, parts, strict=False))

    def _client(self, timeout: float):
        session = boto3.session.Session(region_name=self.region or None, **self._credentials)
        config = Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"total_max_attempts": ATTEMPTS, "mode": "standard"},
            user_agent_extra="steward",
        )
        return session.client("bedrock-runtime", endpoint_url=self.base_url or None, config=config)

    def _chunks(self, messages, timeout, sampling):
        client = self._shared_client(timeout)
        response = client.converse_stream(**self._request(messages, sampling))
        stream = response["stream"]
        try:
            for event in stream:
                if "contentBlockDelta" in event:
                    yield event["contentBlockDelta"]["delta"].get("text", "")
                elif "messageStop" in event:
                    reason = event["messageStop"].get("stopReason")
                    self.finish = ANTHROPIC_FINISH.get(reason, STOPPED)
                elif "metadata" in event:
                    usage = event["metadata"].get("usage") or {}
                    self.usage = Usage(usage.get("inputTokens"), usage.get("outputTokens"))
        finally:
            stream.close()

    def _check(self, timeout):
        # Bedrock's runtime has no listing: a one-token answer proves the credentials,
        # the region and the access to this model all at once.
        client = self._client(timeout)
        try:
            client.converse(**self._request([ChatMessage("user", "ping")], Sampling(max_tokens=1)))
        finally:
            client.close()

    def _request(self, messages, sampling: Sampling) -> dict:
        settings = {"maxTokens": sampling.max_tokens or MAX_TOKENS}
        if sampling.temperature is not None:
            settings["temperature"] = sampling.temperature_up_to(1.0)  # Converse's range
        if sampling.top_p is not None:
            settings["topP"] = sampling.top_p
        if sampling.stop:
            settings["stopSequences"] = sampling.stop_list
        request = {
            "modelId": self.model,
            "messages": [
                {"role": m.role, "content": [{"text": m.content}]}
                for m in alternating_turns([m for m in messages if m.role != "system"])
            ],
            "inferenceConfig": settings,
        }
        system = [{"text": m.content} for m in messages if m.role == "system"]
        if system:
            request["system"] = system
        return request

    def _secrets(self):
        return (*super()._secrets(), *(self._credentials.get(n, "") for n in SECRETS))

    def _translate(self, exc):
        if isinstance(exc, aws.ClientError):
            error = exc.response.get("Error") or {}
            code = str(error.get("Code") or "").lower().removesuffix("exception")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "modeltimeout":
                return self._timeout()
            # An AWS error names its type; a body that is not one (another service's page:
            # the address is the policy admin's) leaves the status as its code, unrepeated.
            said = None if code.isdigit() else (error.get("Message") or code)
            return self._status(status or STATUS_OF.get(code, 500), said)
        if isinstance(exc, aws.ReadTimeoutError | aws.ConnectTimeoutError):
            return self._timeout()
        if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
            return self._timeout()
        if isinstance(exc, aws.ResponseStreamingError | urllib3.exceptions.ProtocolError):
            return self._cut()
        if isinstance(exc, aws.ConnectionError | aws.ConnectionClosedError):
            return self._unreachable()
        if isinstance(exc, aws.NoCredentialsError | aws.PartialCredentialsError):
            return LLMError(
                f"{self.name} found no AWS credentials: store an access key on the backend, or "
                "give the workers credentials (environment, profile or role).",
                kind="config",
            )
        if isinstance(exc, aws.NoRegionError):
            return LLMError(
                f"{self.name} needs a region: name it on the backend, or set "
                "AWS_DEFAULT_REGION for the workers.",
                kind="config",
            )
        if isinstance(exc, eventstream.ParserError | aws.ChecksumError):
            return self._malformed()
        if isinstance(exc, aws.BotoCoreError):
            return LLMError(f"{self.name} could not be called: {exc}", kind="config")
        return None

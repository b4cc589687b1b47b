"""Local fake AI-provider endpoints (OpenAI-compatible, Azure OpenAI, Gemini) for tests.

Client constructions verified against these fakes (openai 3.57, google-genai 3.6.1)
-----------------------------------------------------------------------------------
Production code should build its clients exactly like this (no SDK retries, explicit
timeout); in tests the URLs point at a :class:`FakeProviders` instance::

    import openai
    from google import genai
    from google.genai import types as genai_types

    # OpenAI and every OpenAI-compatible server (Mistral, vLLM, Ollama, ...):
    # base_url ends in /v1; the SDK POSTs {base_url}/chat/completions with
    # "Authorization: Bearer <api_key>".
    client = openai.OpenAI(base_url="https://api.openai.com/v1", api_key=key,
                           max_retries=0, timeout=60.0)
    # fake: base_url=fake.openai_base_url  (== f"{fake.url}/openai/v1")

    # Azure OpenAI: the deployment name is passed as ``model=``. The SDK POSTs
    # {azure_endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...
    # with an "api-key: <key>" header (and the model also stays in the JSON body).
    client = openai.AzureOpenAI(azure_endpoint="https://RESOURCE.openai.azure.com",
                                api_key=key, api_version="2024-10-21",
                                max_retries=0, timeout=60.0)
    # fake: azure_endpoint=fake.azure_endpoint  (== fake.url)

    # Gemini (Developer API, not Vertex). HttpOptions.timeout is in MILLISECONDS (int).
    # The SDK POSTs {base_url}/{api_version}/models/{model}:generateContent with an
    # "x-goog-api-key: <key>" header.
    client = genai.Client(api_key=key, http_options=genai_types.HttpOptions(
        base_url="https://generativelanguage.googleapis.com", api_version="v1beta",
        timeout=60_000, retry_options=genai_types.HttpRetryOptions(attempts=1)))
    # fake: base_url=fake.gemini_base_url  (== fake.url)
    # JSON output: GenerateContentConfig(response_mime_type="application/json", plus
    # response_json_schema=<JSON Schema dict>  -> generationConfig.responseJsonSchema
    # (sent as-is), or response_schema=<pydantic model> -> generationConfig.responseSchema
    # (converted to Gemini's OpenAPI subset: "type": "OBJECT", ...)).
    # KEEP A REFERENCE to the genai.Client while using client.models: Client.__del__
    # closes the shared httpx2 transport, so ``genai.Client(...).models.generate_content(
    # ...)`` on a temporary fails with "RuntimeError: Cannot send a request, as the client
    # has been closed."

Retries
-------
* openai: the client retries 408/409/429/5xx and connection errors twice by default
  (``DEFAULT_MAX_RETRIES = 2``, honouring ``Retry-After``). ``max_retries=0`` on the
  client (or ``client.with_options(max_retries=0)``) disables it.
* google-genai 3.6.1: retries are driven by ``HttpOptions.retry_options``
  (tenacity). With ``retry_options=None`` (the default) the sync client makes ONE
  attempt (``stop_after_attempt(1)``); setting ``HttpRetryOptions()`` turns on the
  default policy of 5 attempts on 408/429/500/502/503/504 and transient httpx errors
  with exponential back-off. ``HttpRetryOptions(attempts=1)`` (``attempts=0`` is
  rewritten to 1) is the explicit "never retry". Pass it anyway so a future default
  change does not silently add retries. (Only the *async* aiohttp path retries a
  failed connection once on its own, and only when ``retry_options`` is unset.)
  A per-request ``config=GenerateContentConfig(http_options=HttpOptions(
  retry_options=...))`` overrides the client's setting.

Exceptions the SDKs raise against the fake (with retries disabled)
--------------------------------------------------------------------
* "500": openai.InternalServerError | genai errors.ServerError (``.code == 500``).
* "429" (sent with ``Retry-After: 1``): openai.RateLimitError | genai errors.ClientError
  (``.code == 429``).
* "timeout": openai.APITimeoutError | ``httpx2.ReadTimeout`` -- an
  ``httpx2.TimeoutException``, NOT a genai ``errors.APIError``. genai uses httpx2 when it
  is installed (a dependency of both SDKs) and falls back to httpx, so production code should
  catch both ``httpx.TimeoutException`` and ``httpx2.TimeoutException``.
* "malformed" (200, body not JSON): a raw ``json.JSONDecodeError`` (a ValueError) from
  BOTH SDKs -- not an ``openai.OpenAIError`` nor a genai ``errors.APIError``.
* "garbage": no exception; the reply text is not JSON (:data:`GARBAGE_TEXT`).
* "off_schema": no exception; the reply is JSON ignoring the schema
  (:data:`OFF_SCHEMA_TEXT`).
* wrong/missing key (when ``api_key`` is set): openai.AuthenticationError | genai
  errors.ClientError (``.code == 400``, like the real Gemini ``API_KEY_INVALID``).

Usage
-----
::

    with FakeProviders() as fake:             # or fake = FakeProviders().start() ... stop()
        fake.responder = lambda call: '{"title": "Intro"}'
        fake.fail_next(1, "429", flavour="gemini")
        ...
        [req] = fake.requests                 # RecordedRequest, in arrival order

The responder receives a :class:`Call` (a normalised view of the request) and returns
the assistant's text; the server wraps it in the provider's wire format with usage.
Token counts are deterministic estimates: the number of matches of
``TOKEN_PATTERN`` (``\\w+|[^\\w\\s]``: runs of word characters, and every other
non-space character on its own) in the prompt (the text of all messages, including the
system message) and in the reply.

Only non-streaming chat calls are served (OpenAI ``/chat/completions``, Gemini
``:generateContent``); anything else gets a 404 in the provider's error format.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Self

Flavour = Literal["openai", "azure", "gemini"]
FailureKind = Literal["500", "429", "garbage", "off_schema", "timeout", "malformed"]
FLAVOURS: tuple[Flavour, ...] = ("openai", "azure", "gemini")
FAILURE_KINDS: tuple[FailureKind, ...] = ("500", "429", "garbage", "off_schema", "timeout",
                                          "malformed")

TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]")
#: Reply text of a "garbage" failure: a well-formed reply whose content is not JSON.
GARBAGE_TEXT = "Sure! Here is your course outline: {title: Intro, modules: [oops"
#: Reply text of an "off_schema" failure: valid JSON that matches no useful schema.
OFF_SCHEMA_TEXT = '{"unexpected": true}'
#: Body of a "malformed" failure: a 200 whose body is not JSON at all.
MALFORMED_BODY = b'{"choices": [{"message": <<truncated'

_GEMINI_PATH = re.compile(r"^/(?P<version>[^/]+)/models/(?P<model>[^/:]+):generateContent$")
_AZURE_PATH = re.compile(r"^/openai/deployments/(?P<deployment>[^/]+)/chat/completions$")
_OPENAI_PATH = "/openai/v1/chat/completions"


def count_tokens(text: str) -> int:
    """The deterministic token estimate used for every ``usage`` block."""
    return len(TOKEN_PATTERN.findall(text))


def echo_ok(call: Call) -> str:
    """The default responder: always ``"ok"``."""
    return "ok"


@dataclass(frozen=True)
class Call:
    """A provider-neutral view of one chat request, handed to the responder.

    ``messages`` are ``{"role": "system"|"user"|"assistant", "content": str}``; Gemini's
    ``systemInstruction`` becomes a leading system message and its ``model`` role
    becomes ``assistant``. ``model`` is the model name, or the deployment for Azure.
    ``json_schema`` is the schema itself (OpenAI ``response_format.json_schema.schema``,
    Gemini ``generationConfig.responseJsonSchema`` or ``responseSchema``);
    ``json_mode`` is true for any JSON response format (also ``json_object`` and
    Gemini ``responseMimeType: application/json`` without a schema).
    """

    flavour: Flavour
    model: str
    messages: list[dict[str, str]]
    json_schema: dict[str, Any] | None = None
    schema_name: str | None = None
    json_mode: bool = False
    temperature: float | None = None
    max_tokens: int | None = None
    body: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def prompt_text(self) -> str:
        return "\n".join(m["content"] for m in self.messages)

    @property
    def system(self) -> str | None:
        texts = [m["content"] for m in self.messages if m["role"] == "system"]
        return "\n".join(texts) if texts else None

    @property
    def last_user(self) -> str | None:
        for message in reversed(self.messages):
            if message["role"] == "user":
                return message["content"]
        return None


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the fake received it (recorded before any failure injection)."""

    flavour: Flavour | None  # None: the path matched no provider
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body_text: str
    body_json: Any  # None when the body is not JSON
    time: float  # time.time() at arrival
    call: Call | None = None  # None when the request could not be normalised
    # "ok" (handed to the responder), "unauthorised", "error" (bad body / stream=True),
    # "not_found", or the injected FailureKind
    outcome: str = "ok"


@dataclass
class _Rule:
    kind: FailureKind
    remaining: int | None  # None: forever
    flavour: Flavour | None
    model: str | None
    delay: float | None

    def matches(self, flavour: Flavour, model: str) -> bool:
        return ((self.flavour is None or self.flavour == flavour)
                and (self.model is None or self.model == model))


class FakeProviders:
    """OpenAI, Azure OpenAI and Gemini chat endpoints on ``127.0.0.1:<random port>``.

    ``api_key``: when set, requests must carry exactly this key (``Authorization:
    Bearer``, ``api-key`` or ``x-goog-api-key``); otherwise any non-empty key passes.
    A missing/wrong key gets the provider's 401 (Gemini: 400 ``API_KEY_INVALID``).
    ``timeout_delay``: seconds a "timeout" failure sleeps before replying (make it longer
    than the client timeout under test). ``responder``: see :class:`Call`.
    """

    def __init__(self, responder: Callable[[Call], str] = echo_ok, *,
                 api_key: str | None = None, timeout_delay: float = 5.0) -> None:
        self.responder: Callable[[Call], str] = responder
        self.api_key = api_key
        self.timeout_delay = timeout_delay
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._rules: list[_Rule] = []
        self._stopping = threading.Event()
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        # a short poll interval keeps stop() (shutdown) fast
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,),
                                        name="fake-providers", daemon=True)
        self._started = False

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> Self:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; wakes any "timeout" handler still sleeping."""
        self._stopping.set()
        if self._started:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses --------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def openai_base_url(self) -> str:
        """``base_url`` for ``openai.OpenAI`` (OpenAI-compatible flavour)."""
        return f"{self.url}/openai/v1"

    @property
    def azure_endpoint(self) -> str:
        """``azure_endpoint`` for ``openai.AzureOpenAI``."""
        return self.url

    @property
    def gemini_base_url(self) -> str:
        """``HttpOptions.base_url`` for ``google.genai.Client``."""
        return self.url

    # -- recording --------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot (copy) of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def calls(self) -> list[Call]:
        """The normalised :class:`Call` of every request that had one."""
        return [r.call for r in self.requests if r.call is not None]

    def requests_for(self, flavour: Flavour) -> list[RecordedRequest]:
        return [r for r in self.requests if r.flavour == flavour]

    def clear(self) -> None:
        """Forget recorded requests (failure rules are kept; see :meth:`reset`)."""
        with self._lock:
            self._requests.clear()

    def reset(self) -> None:
        """Forget requests and failure rules and restore the default responder."""
        with self._lock:
            self._requests.clear()
            self._rules.clear()
        self.responder = echo_ok

    # -- failure injection ------------------------------------------------------------

    def fail_next(self, n: int, kind: FailureKind, *, flavour: Flavour | None = None,
                  model: str | None = None, delay: float | None = None) -> None:
        """Make the next ``n`` matching requests fail with ``kind``.

        ``flavour``/``model`` narrow which requests match (``None``: any; ``model`` is
        the deployment for Azure). Rules are consumed in the order they were added.
        ``delay`` overrides ``timeout_delay`` for a "timeout".
        """
        self._add_rule(_Rule(kind, n, flavour, model, delay))

    def always_fail(self, kind: FailureKind, *, flavour: Flavour | None = None,
                    model: str | None = None, delay: float | None = None) -> None:
        """Fail every matching request with ``kind`` until :meth:`recover`."""
        self._add_rule(_Rule(kind, None, flavour, model, delay))

    def recover(self, *, flavour: Flavour | None = None, model: str | None = None) -> None:
        """Drop the failure rules added for exactly this ``flavour``/``model`` scope
        (``recover()`` with no arguments drops every rule)."""
        with self._lock:
            if flavour is None and model is None:
                self._rules.clear()
            else:
                self._rules = [r for r in self._rules
                               if not (r.flavour == flavour and r.model == model)]

    def _add_rule(self, rule: _Rule) -> None:
        if rule.kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {rule.kind!r}; use one of {FAILURE_KINDS}")
        if rule.flavour is not None and rule.flavour not in FLAVOURS:
            raise ValueError(f"unknown flavour {rule.flavour!r}; use one of {FLAVOURS}")
        if rule.remaining is not None and rule.remaining < 1:
            return
        with self._lock:
            self._rules.append(rule)

    def _take_failure(self, flavour: Flavour, model: str) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(flavour, model):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining <= 0:
                            self._rules.remove(rule)
                    return rule
        return None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    # -- client helpers (the constructions documented above) --------------------------

    def openai_client(self, *, api_key: str = "sk-test", timeout: float = 10.0,
                      **kwargs: Any) -> Any:
        import openai

        return openai.OpenAI(base_url=self.openai_base_url, api_key=api_key,
                             max_retries=0, timeout=timeout, **kwargs)

    def azure_client(self, *, api_key: str = "azure-test", api_version: str = "2024-10-21",
                     timeout: float = 10.0, **kwargs: Any) -> Any:
        import openai

        return openai.AzureOpenAI(azure_endpoint=self.azure_endpoint, api_key=api_key,
                                  api_version=api_version, max_retries=0, timeout=timeout,
                                  **kwargs)

    def gemini_client(self, *, api_key: str = "gemini-test", api_version: str = "v1beta",
                      timeout: float = 10.0) -> Any:
        """``timeout`` in seconds here (converted to HttpOptions' milliseconds)."""
        from google import genai
        from google.genai import types

        return genai.Client(api_key=api_key, http_options=types.HttpOptions(
            base_url=self.gemini_base_url, api_version=api_version,
            timeout=round(timeout * 1000),
            retry_options=types.HttpRetryOptions(attempts=1)))


# -- request normalisation ---------------------------------------------------------------

def _text_of(content: Any) -> str:
    """OpenAI message content: a string or a list of parts (text parts are joined)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content
                       if isinstance(p, dict) and p.get("type", "text") == "text")
    return str(content)


def _gemini_text(content: Any) -> str:
    if not isinstance(content, dict):
        return ""
    return "".join(str(p.get("text", "")) for p in content.get("parts") or []
                   if isinstance(p, dict))


def _openai_call(flavour: Flavour, model: str, body: dict[str, Any]) -> Call:
    messages = [{"role": str(m.get("role", "user")), "content": _text_of(m.get("content"))}
                for m in body.get("messages") or [] if isinstance(m, dict)]
    # the SDK sends "developer" for newer models; treat it as the system prompt
    for message in messages:
        if message["role"] == "developer":
            message["role"] = "system"
    fmt = body.get("response_format") or {}
    schema: dict[str, Any] | None = None
    schema_name: str | None = None
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        schema = spec.get("schema")
        schema_name = spec.get("name")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    return Call(flavour=flavour, model=model, messages=messages, json_schema=schema,
                schema_name=schema_name,
                json_mode=fmt.get("type") in ("json_schema", "json_object"),
                temperature=body.get("temperature"), max_tokens=max_tokens, body=body)


def _gemini_call(model: str, body: dict[str, Any]) -> Call:
    messages: list[dict[str, str]] = []
    system = body.get("systemInstruction")
    if system:
        messages.append({"role": "system", "content": _gemini_text(system)})
    for content in body.get("contents") or []:
        role = content.get("role") or "user"
        messages.append({"role": "assistant" if role == "model" else str(role),
                         "content": _gemini_text(content)})
    config = body.get("generationConfig") or {}
    schema = config.get("responseJsonSchema") or config.get("responseSchema")
    title = schema.get("title") if isinstance(schema, dict) else None
    return Call(flavour="gemini", model=model, messages=messages, json_schema=schema,
                schema_name=title if isinstance(title, str) else None,
                json_mode=config.get("responseMimeType") == "application/json",
                temperature=config.get("temperature"),
                max_tokens=config.get("maxOutputTokens"), body=body)


# -- wire formats ------------------------------------------------------------------------

def _openai_reply(call: Call, text: str) -> dict[str, Any]:
    prompt = count_tokens(call.prompt_text)
    completion = count_tokens(text)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": call.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                  "total_tokens": prompt + completion},
        "system_fingerprint": "fp_fake",
    }


def _gemini_reply(call: Call, text: str) -> dict[str, Any]:
    prompt = count_tokens(call.prompt_text)
    completion = count_tokens(text)
    return {
        "candidates": [{
            "content": {"role": "model", "parts": [{"text": text}]},
            "finishReason": "STOP",
            "index": 0,
        }],
        "usageMetadata": {"promptTokenCount": prompt, "candidatesTokenCount": completion,
                          "totalTokenCount": prompt + completion},
        "modelVersion": call.model,
        "responseId": uuid.uuid4().hex[:22],
    }


_OPENAI_ERRORS = {
    400: ("invalid_request_error", "invalid_request_error"),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "not_found"),
    429: ("rate_limit_exceeded", "rate_limit_exceeded"),
    500: ("server_error", None),
}
_GEMINI_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND",
                  429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}


def _error_body(flavour: Flavour | None, status: int, message: str) -> dict[str, Any]:
    if flavour == "gemini":
        return {"error": {"code": status, "message": message,
                          "status": _GEMINI_STATUS.get(status, "UNKNOWN")}}
    err_type, code = _OPENAI_ERRORS.get(status, ("server_error", None))
    return {"error": {"message": message, "type": err_type, "param": None, "code": code}}


class _Handler(http.server.BaseHTTPRequestHandler):
    fake: FakeProviders
    server_version = "FakeProviders/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    # -- plumbing ---------------------------------------------------------------------

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:  # the client gave up (e.g. after a "timeout")
            pass

    def _send_json(self, status: int, payload: Any,
                   headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), headers)

    def _auth_ok(self, flavour: Flavour, headers: dict[str, str]) -> bool:
        if flavour == "openai":
            auth = headers.get("authorization", "")
            key = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        elif flavour == "azure":
            key = headers.get("api-key", "")
        else:
            key = headers.get("x-goog-api-key", "")
        expected = self.fake.api_key
        return bool(key) and (expected is None or key == expected)

    def _route(self, path: str) -> tuple[Flavour | None, str | None]:
        if self.command != "POST":
            return None, None
        if path == _OPENAI_PATH:
            return "openai", None
        if match := _AZURE_PATH.match(path):
            return "azure", urllib.parse.unquote(match["deployment"])
        if match := _GEMINI_PATH.match(path):
            return "gemini", urllib.parse.unquote(match["model"])
        return None, None

    # -- the request ------------------------------------------------------------------

    def _handle(self) -> None:
        fake = self.fake
        parsed = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(headers.get("content-length") or 0)
        body_text = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        try:
            body_json: Any = json.loads(body_text) if body_text else None
        except ValueError:
            body_json = None
        flavour, path_model = self._route(parsed.path)

        def record(call: Call | None, outcome: str) -> None:
            fake._record(RecordedRequest(
                flavour=flavour, method=self.command, path=parsed.path, query=query,
                headers=headers, body_text=body_text, body_json=body_json,
                time=time.time(), call=call, outcome=outcome))

        if flavour is None:
            record(None, "not_found")
            is_gemini = ":generateContent" in parsed.path or "/models/" in parsed.path
            self._send_json(404, _error_body("gemini" if is_gemini else "openai", 404,
                                             f"fake: no endpoint for {self.command} "
                                             f"{parsed.path}"))
            return
        if not self._auth_ok(flavour, headers):
            record(None, "unauthorised")
            if flavour == "gemini":
                payload = _error_body(flavour, 400, "API key not valid. Please pass a valid "
                                      "API key.")
                self._send_json(400, payload)
            else:
                self._send_json(401, _error_body(flavour, 401, "Incorrect API key provided."))
            return
        if not isinstance(body_json, dict):
            record(None, "error")
            self._send_json(400, _error_body(flavour, 400, "fake: body is not a JSON object"))
            return
        if body_json.get("stream"):
            record(None, "error")
            self._send_json(400, _error_body(flavour, 400, "fake: streaming not supported"))
            return

        if flavour == "gemini":
            call = _gemini_call(path_model or "", body_json)
        else:
            model = path_model if flavour == "azure" else str(body_json.get("model", ""))
            call = _openai_call(flavour, model or "", body_json)

        rule = fake._take_failure(flavour, call.model)
        kind = rule.kind if rule else None
        record(call, kind or "ok")
        if kind == "500":
            self._send_json(500, _error_body(flavour, 500, "fake: internal error"))
            return
        if kind == "429":
            self._send_json(429, _error_body(flavour, 429, "fake: rate limit exceeded"),
                            {"Retry-After": "1"})
            return
        if kind == "malformed":
            self._send(200, MALFORMED_BODY)
            return
        if kind == "timeout":
            assert rule is not None
            fake._sleep(rule.delay if rule.delay is not None else fake.timeout_delay)

        if kind == "garbage":
            text = GARBAGE_TEXT
        elif kind == "off_schema":
            text = OFF_SCHEMA_TEXT
        else:
            try:
                text = fake.responder(call)
            except Exception as exc:  # surface responder bugs to the client
                self._send_json(500, _error_body(flavour, 500, f"fake responder failed: "
                                                 f"{type(exc).__name__}: {exc}"))
                return
        reply = _gemini_reply(call, text) if flavour == "gemini" else _openai_reply(call, text)
        self._send_json(200, reply)

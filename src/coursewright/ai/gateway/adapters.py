"""Provider adapters: the only code in coursewright that imports a provider SDK.

Design note
-----------
An import-linter contract (pyproject.toml) forbids every other module to import
``openai``, ``google.genai`` or an HTTP client for them, and ``complete`` refuses to run
without a ``Clearance`` — an object only ``ai.gateway.ask`` creates, after the org's
policy allowed the request and the privacy guard redacted it. So the one way to reach a
provider is through the gate, and a test checks both halves.

Every SDK client is built per call with retries off (failover is the gateway's job, and
an SDK's silent retries would hide a failing provider from the circuit breaker) and with
the configured timeout. Every failure becomes a ``ProviderError`` with a kind the
gateway understands: timeout, rate_limited, server, malformed, auth, client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import httpx
import httpx2
import openai
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from coursewright.ai.config import ProviderConfig

ErrorKind = Literal["timeout", "rate_limited", "server", "malformed", "auth", "client"]


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Completion:
    text: str
    tokens_in: int
    tokens_out: int
    model: str


class ProviderError(Exception):
    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Clearance:
    """Proof that a request passed the gate. Made only by ``ai.gateway``."""

    __slots__ = ("_issued", "provider")

    def __init__(self, provider: str, _issued: object) -> None:
        self.provider = provider
        self._issued = _issued


_GATE_SEAL = object()  # the gateway passes this; nothing else has it


def _check(clearance: Clearance, cfg: ProviderConfig) -> None:
    if not isinstance(clearance, Clearance) or clearance._issued is not _GATE_SEAL \
            or clearance.provider != cfg.name:
        raise PermissionError("provider calls go through coursewright.ai.gateway.ask")


def complete(cfg: ProviderConfig, clearance: Clearance, *, api_key: str,
             messages: list[Message], json_schema: dict[str, Any] | None,
             schema_name: str, temperature: float, max_tokens: int | None,
             timeout: float) -> Completion:
    _check(clearance, cfg)
    if cfg.kind in ("openai", "azure"):
        return _openai(cfg, api_key=api_key, messages=messages, json_schema=json_schema,
                       schema_name=schema_name, temperature=temperature,
                       max_tokens=max_tokens, timeout=timeout)
    if cfg.kind == "gemini":
        return _gemini(cfg, api_key=api_key, messages=messages, json_schema=json_schema,
                       temperature=temperature, max_tokens=max_tokens, timeout=timeout)
    raise ProviderError("client", f"provider kind {cfg.kind!r} takes no prompts")


def _openai(cfg: ProviderConfig, *, api_key: str, messages: list[Message],
            json_schema: dict[str, Any] | None, schema_name: str, temperature: float,
            max_tokens: int | None, timeout: float) -> Completion:
    client: openai.OpenAI
    if cfg.kind == "azure":
        client = openai.AzureOpenAI(azure_endpoint=cfg.azure_endpoint, api_key=api_key,
                                    api_version=cfg.api_version, max_retries=0,
                                    timeout=timeout)
    else:
        # Self-hosted endpoints (vLLM, Ollama) often need no key; the SDK insists on one.
        client = openai.OpenAI(base_url=cfg.base_url, api_key=api_key or "no-key",
                               max_retries=0, timeout=timeout)
    kwargs: dict[str, Any] = {
        "model": cfg.model,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "temperature": temperature,
    }
    if max_tokens:
        kwargs["max_tokens"] = max_tokens
    if json_schema is not None:
        if cfg.json_mode == "schema":
            kwargs["response_format"] = {"type": "json_schema", "json_schema": {
                "name": schema_name or "answer", "schema": json_schema, "strict": True}}
        else:
            kwargs["response_format"] = {"type": "json_object"}
    try:
        with client:
            resp = client.chat.completions.create(**kwargs)
    except openai.APITimeoutError as exc:
        raise ProviderError("timeout", "the provider did not answer in time") from exc
    except openai.RateLimitError as exc:
        raise ProviderError("rate_limited", "the provider is rate-limiting (429)") from exc
    except openai.InternalServerError as exc:
        raise ProviderError("server", f"the provider failed ({exc.status_code})") from exc
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        raise ProviderError("auth", "the provider refused the API key") from exc
    except openai.APIStatusError as exc:
        kind: ErrorKind = "server" if exc.status_code >= 500 else "client"
        raise ProviderError(kind, f"the provider refused the request ({exc.status_code})") \
            from exc
    except openai.APIConnectionError as exc:
        raise ProviderError("server", "the provider could not be reached") from exc
    except (ValueError, KeyError, TypeError) as exc:  # an unparseable body
        raise ProviderError("malformed", "the provider's answer was not readable") from exc
    try:
        text = resp.choices[0].message.content or ""
    except (AttributeError, IndexError, TypeError) as exc:
        raise ProviderError("malformed", "the provider's answer had no text") from exc
    usage = getattr(resp, "usage", None)
    return Completion(text=text,
                      tokens_in=int(getattr(usage, "prompt_tokens", 0) or 0),
                      tokens_out=int(getattr(usage, "completion_tokens", 0) or 0),
                      model=str(getattr(resp, "model", "") or cfg.model))


def _gemini(cfg: ProviderConfig, *, api_key: str, messages: list[Message],
            json_schema: dict[str, Any] | None, temperature: float,
            max_tokens: int | None, timeout: float) -> Completion:
    options = genai_types.HttpOptions(
        base_url=cfg.base_url or None, api_version=cfg.api_version or None,
        timeout=int(timeout * 1000),
        retry_options=genai_types.HttpRetryOptions(attempts=1))
    client = genai.Client(api_key=api_key or "no-key", http_options=options)
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    contents = [genai_types.Content(role="model" if m.role == "assistant" else "user",
                                    parts=[genai_types.Part(text=m.content)])
                for m in messages if m.role != "system"]
    config = genai_types.GenerateContentConfig(
        system_instruction=system or None, temperature=temperature,
        max_output_tokens=max_tokens or None,
        response_mime_type="application/json" if json_schema is not None else None,
        response_json_schema=json_schema)
    try:
        resp = client.models.generate_content(model=cfg.model, contents=contents,
                                              config=config)
    except genai_errors.ServerError as exc:
        raise ProviderError("server", f"the provider failed ({exc.code})") from exc
    except genai_errors.ClientError as exc:
        if exc.code == 429:
            raise ProviderError("rate_limited", "the provider is rate-limiting (429)") from exc
        if exc.code in (401, 403):
            raise ProviderError("auth", "the provider refused the API key") from exc
        raise ProviderError("client", f"the provider refused the request ({exc.code})") \
            from exc
    except (httpx.TimeoutException, httpx2.TimeoutException) as exc:
        raise ProviderError("timeout", "the provider did not answer in time") from exc
    except (httpx.HTTPError, httpx2.HTTPError) as exc:
        raise ProviderError("server", "the provider could not be reached") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ProviderError("malformed", "the provider's answer was not readable") from exc
    finally:
        client.close()
    try:
        text = resp.text or ""
    except (AttributeError, ValueError) as exc:
        raise ProviderError("malformed", "the provider's answer had no text") from exc
    usage = resp.usage_metadata
    return Completion(text=text,
                      tokens_in=int(getattr(usage, "prompt_token_count", 0) or 0),
                      tokens_out=int(getattr(usage, "candidates_token_count", 0) or 0),
                      model=str(resp.model_version or cfg.model))

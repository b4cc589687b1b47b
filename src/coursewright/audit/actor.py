"""Who is acting. Every action function takes an Actor so its audit row can say who
did what, and through which channel (dashboard, API, CLI, background job)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from coursewright.audit.models import ActorKind, Channel

if TYPE_CHECKING:
    from coursewright.accounts.models import User
    from coursewright.orgs.models import ApiKey


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    channel: Channel
    user: User | None = None
    api_key: ApiKey | None = None
    # a partner's user acting through an embed token that ``api_key`` minted
    # (coursewright.embed): the partner's opaque id for them, and the token's scope
    embed_user: str | None = None
    embed_scope: str | None = None

    @classmethod
    def person(cls, user: User, channel: Channel = Channel.WEB) -> Actor:
        return cls(kind=ActorKind.USER, channel=channel, user=user)

    @classmethod
    def key(cls, api_key: ApiKey) -> Actor:
        return cls(kind=ActorKind.API_KEY, channel=Channel.API, api_key=api_key)

    @classmethod
    def embed(cls, api_key: ApiKey, user: str, scope: str) -> Actor:
        return cls(kind=ActorKind.API_KEY, channel=Channel.API, api_key=api_key,
                   embed_user=user, embed_scope=scope)

    @classmethod
    def system(cls, channel: Channel = Channel.JOB) -> Actor:
        return cls(kind=ActorKind.SYSTEM, channel=channel)

    @classmethod
    def anonymous(cls, channel: Channel = Channel.API) -> Actor:
        """Someone who did not (or could not) authenticate: only the API-call log uses it."""
        return cls(kind=ActorKind.ANONYMOUS, channel=channel)

    @property
    def is_person(self) -> bool:
        return self.kind == ActorKind.USER and self.user is not None

    @property
    def label(self) -> str:
        if self.user is not None:
            return self.user.email
        if self.embed_user is not None:
            return f"embed-user:{self.embed_user}"
        if self.api_key is not None:
            return f"api-key:{self.api_key.prefix}"
        return "anonymous" if self.kind == ActorKind.ANONYMOUS else "system"

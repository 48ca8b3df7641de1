"""Settings: flags > `CHAT_*` environment variables > defaults, validated once at start."""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from chat_server.core.rollups import KEEP_DAYS, zone
from chat_server.core.ssrf import networks
from chat_server.protocol.codec import is_text


def _default_static_dir() -> Path:
    here = Path(__file__).resolve().parent.parent / "static"
    for candidate in (here, Path(sys.prefix) / "share" / "chat-server" / "static", Path("static")):
        if (candidate / "widget" / "widget.js").is_file():
            return candidate
    return here


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data: Path = Path("chat-data")
    redis_url: str | None = None
    redis_prefix: str = "chat"
    # replicas a message or conversation change must reach (`WAIT`) before its `ok`
    redis_replicas_ack: int = 0
    presence_ttl_s: float = 10.0
    demo: bool = False
    secret: str | None = None
    static_dir: Path = field(default_factory=_default_static_dir)
    behind_proxy: bool = False
    public_origins: tuple[str, ...] = ()
    log_level: str = "info"
    # processes serving the port, each a node of the Redis mode (issue 19; `workers.py`)
    workers: int = 1
    # after start-up: freeze its objects, raise the collector's thresholds (`gc_tuning.py`)
    gc_freeze: bool = True

    max_frame_bytes: int = 2 * 1024 * 1024
    send_queue: int = 1000
    send_queue_bytes: int = 8 * 1024 * 1024
    hello_timeout_s: float = 10.0
    agent_grace_s: float = 30.0
    visitor_timeout_s: float = 600.0
    sweep_interval_s: float = 1.0
    queue_interval_s: float = 0.5
    mean_handle_s: float = 300.0
    survey: tuple[str, ...] = ("csat", "nps", "ces")
    sqlite_synchronous: str = "NORMAL"
    session_ttl_s: int = 7 * 24 * 3600
    visitor_token_ttl_s: int = 180 * 24 * 3600
    chat_rate: float = 20.0
    chat_burst: int = 60
    cobrowse_replay_bytes: int = 8 * 1024 * 1024
    cobrowse_rate: float = 60.0
    cobrowse_burst: int = 240
    abuse_refusals: int = 50
    max_connections_per_address: int = 200
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    login_attempts: int = 10
    login_window_s: float = 900.0
    handshake_rate: float = 20.0
    handshake_burst: int = 40
    new_visitor_rate: float = 5.0
    new_visitor_burst: int = 20
    max_body_bytes: int = 64 * 1024
    max_header_bytes: int = 16 * 1024
    max_header_count: int = 100
    head_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    upload_timeout_s: float = 300.0  # the body time of `POST /api/files` (issue 15)
    max_http_connections_per_address: int = 100
    fcr_hours: float = 24.0
    frt_target_s: float = 60.0
    retention_days: float = 0.0  # 0: keep every closed conversation (issue 16)
    rollup_days: int = KEEP_DAYS  # how long the figures over time are kept (issue 16)
    reports_tz: str = "UTC"  # the zone of the reports' days and months (issue 16)
    # webhooks (issue 17): networks a webhook may reach despite the SSRF rules (CIDRs)
    webhook_allow: tuple[str, ...] = ()
    webhook_timeout_s: float = 10.0
    webhook_poll_s: float = 1.0  # how often the outbox and the retries are looked at
    webhook_refresh_s: float = 5.0  # how soon a node sees another node's endpoint change
    webhook_retry_base_s: float = 5.0  # the first retry's wait, doubled each time
    webhook_retry_cap_s: float = 3600.0  # the longest wait between two attempts
    webhook_retry_hours: float = 24.0  # then the delivery is parked

    @classmethod
    def load(
        cls, overrides: dict[str, Any] | None = None, env: dict[str, str] | None = None
    ) -> Settings:
        """Build settings from `CHAT_<NAME>` variables, then explicit overrides (flags)."""
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"CHAT_{f.name.upper()}")
            if f.name == "data":
                raw = env.get("CHAT_DATA", env.get("CHAT_DATA_DIR"))
            if raw is not None and raw != "":
                if f.type != "Path" and not is_text(raw):  # undecodable bytes (surrogateescape)
                    raise ValueError(f"CHAT_{f.name.upper()} is not valid UTF-8 text")
                values[f.name] = _parse(f.name, str(f.type), raw)
        for key, value in (overrides or {}).items():
            if value is not None:
                values[key] = value
        settings = cls(**values)
        settings.validate()
        return settings

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def validate(self) -> None:
        if not 0 < self.port < 65536 and self.port != 0:
            raise ValueError(f"port must be 1..65535, got {self.port}")
        if self.workers < 1:
            raise ValueError(
                f"workers (CHAT_WORKERS) must be at least 1 or auto, got {self.workers}"
            )
        if self.max_frame_bytes < 1024:
            raise ValueError(f"max_frame_bytes must be at least 1024, got {self.max_frame_bytes}")
        if self.send_queue < 1 or self.send_queue_bytes < 1:
            raise ValueError(
                "send_queue and send_queue_bytes (CHAT_SEND_QUEUE, CHAT_SEND_QUEUE_BYTES) must "
                f"be at least 1, got {self.send_queue} and {self.send_queue_bytes}"
            )
        for name in (
            "handshake_burst",
            "new_visitor_burst",
            "max_body_bytes",
            "max_header_bytes",
            "max_header_count",
            "max_http_connections_per_address",
        ):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"{name} (CHAT_{name.upper()}) must be at least 1, got {getattr(self, name)}"
                )
        if not math.isfinite(self.retention_days) or self.retention_days < 0:
            raise ValueError(
                f"retention_days (CHAT_RETENTION_DAYS) must be 0 (keep all) or more, "
                f"got {self.retention_days}"
            )
        if self.redis_replicas_ack < 0:
            raise ValueError(
                "redis_replicas_ack (CHAT_REDIS_REPLICAS_ACK) must be 0 (do not wait) or "
                f"more, got {self.redis_replicas_ack}"
            )
        if self.rollup_days < 1:
            raise ValueError(
                f"rollup_days (CHAT_ROLLUP_DAYS) must be at least 1, got {self.rollup_days}"
            )
        try:
            zone(self.reports_tz)
        except ValueError:
            raise ValueError(
                f"reports_tz (CHAT_REPORTS_TZ) must be an IANA time zone such as "
                f"Europe/Paris, got {self.reports_tz!r}"
            ) from None
        networks(self.webhook_allow)  # raises ValueError naming a bad entry
        unknown = set(self.survey) - {"csat", "nps", "ces"}
        if unknown:
            raise ValueError(f"survey may ask csat, nps, ces; got {sorted(unknown)}")
        if self.sqlite_synchronous.upper() not in {"NORMAL", "FULL", "EXTRA"}:
            raise ValueError(
                f"sqlite_synchronous must be NORMAL, FULL or EXTRA, got {self.sqlite_synchronous!r}"
            )
        for name in (
            "agent_grace_s",
            "visitor_timeout_s",
            "hello_timeout_s",
            "sweep_interval_s",
            "queue_interval_s",
            "mean_handle_s",
            "presence_ttl_s",
            "login_window_s",
            "handshake_rate",
            "new_visitor_rate",
            "head_timeout_s",
            "body_timeout_s",
            "upload_timeout_s",
            "fcr_hours",
            "frt_target_s",
            "webhook_timeout_s",
            "webhook_poll_s",
            "webhook_refresh_s",
            "webhook_retry_base_s",
            "webhook_retry_cap_s",
            "webhook_retry_hours",
        ):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(
                    f"{name} (CHAT_{name.upper()}) must be a positive number, got {value}"
                )


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container or `taskset`
    narrows), not the machine's count."""
    return len(os.sched_getaffinity(0))


def parse_workers(raw: str) -> int:
    """`--workers` / `CHAT_WORKERS`: a count, or `auto` for one per usable core. The range
    is `validate`'s."""
    return usable_cores() if raw.strip().lower() == "auto" else int(raw)


def _parse(name: str, type_name: str, raw: str) -> Any:
    try:
        if name == "workers":
            return parse_workers(raw)
        if type_name == "bool":
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
        if type_name == "Path":
            return Path(raw)
        if type_name.startswith("tuple"):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        return raw
    except ValueError:
        raise ValueError(f"CHAT_{name.upper()}={raw!r} is not a valid {type_name}") from None

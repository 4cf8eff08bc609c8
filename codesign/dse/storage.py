"""Where a sweep's study lives: SQLite in the output directory, or any Optuna RDB URL.

The storage is the only thing workers share, so everything about it is here: the URL rules,
the database driver, heartbeats (a trial whose worker stopped sending them is failed and
queued again by Optuna's retry callback), and the study's identity check on resume.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import time
import warnings
from pathlib import Path

from codesign.dse.config import SweepConfig
from codesign.errors import CodesignError

HEARTBEAT_S = 10.0  # a running trial's worker writes a heartbeat this often
GRACE_FACTOR = 4  # ... and the trial is failed (and retried) after this many missed beats
SQLITE_TIMEOUT_S = 120
MAX_RETRY = 3  # Optuna retries of a trial whose worker vanished
SCHEME = "rounds-v1"  # how trials are planned (codesign.dse.generations); stored in the study


class SweepError(CodesignError):
    """A sweep cannot start or continue (busy output directory, other study, failing trials)."""


def storage_url(out_dir: Path, storage: str | None) -> str:
    """``None``: SQLite in the output directory; a plain path: that SQLite file; else an RDB URL.

    ``postgresql://`` / ``postgres://`` URLs use psycopg 3 when psycopg2 is not installed (the
    project installs psycopg 3; SQLAlchemy's default PostgreSQL driver is psycopg2).
    """
    if storage is None:
        return f"sqlite:///{(out_dir / 'study.db').resolve()}"
    if "://" not in storage:
        return f"sqlite:///{Path(storage).resolve()}"
    scheme, _, rest = storage.partition("://")
    if scheme in ("postgresql", "postgres"):
        has = importlib.util.find_spec
        driver = "psycopg" if has("psycopg") is not None and has("psycopg2") is None else None
        return f"postgresql+{driver}://{rest}" if driver else f"postgresql://{rest}"
    return storage


def redact(url: str) -> str:
    """The URL without its password."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in credentials else url
    return url


def open_storage(url: str, heartbeat_s: float = HEARTBEAT_S):
    """An RDBStorage with heartbeats and Optuna's retry callback; for SQLite, a long lock
    timeout so that several processes can share the file."""
    import optuna
    from optuna.storages import RDBStorage

    if url.startswith("sqlite"):
        engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    else:  # a server: drop connections that died while a trial ran (server restart, idle timeout)
        engine_kwargs = {"pool_pre_ping": True}
    interval = max(1, round(heartbeat_s))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback"):  # Optuna >= 4.9
            retry = {"heartbeat_stale_trial_callback":
                     optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)}
        else:
            retry = {"failed_trial_callback": optuna.storages.RetryFailedTrialCallback(max_retry=MAX_RETRY)}
        for attempt in range(5):
            try:
                return RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=interval,
                                  grace_period=GRACE_FACTOR * interval, **retry)
            except ImportError as exc:
                driver = exc.name or str(exc).splitlines()[0]
                raise SweepError(f"storage {redact(url)} needs a database driver that is not installed ({driver})",
                                 hint="pip install it (psycopg[binary] for PostgreSQL, pymysql for MySQL)") from None
            except Exception as exc:  # sqlalchemy errors: bad URL, unreachable server, a race
                if _creating_tables_concurrently(exc) and attempt < 4:
                    time.sleep(1.0 + attempt)  # another process is creating Optuna's tables: use theirs
                    continue
                raise SweepError(f"cannot open storage {redact(url)}: {str(exc).splitlines()[0]}",
                                 hint="check the --storage URL (e.g. postgresql://user:pass@host:5432/db)") from None


def _creating_tables_concurrently(exc: Exception) -> bool:
    text = str(exc)
    return any(marker in text for marker in ("UniqueViolation", "already exists", "duplicate key"))


def prepare_study(config: SweepConfig, url: str, *, local: bool, heartbeat_s: float = HEARTBEAT_S):
    """Create or load the study; refuse one started with another config or planning scheme.

    ``local``: this process holds the output directory's lock, so trials left running belong to
    an interrupted run of it: they are failed at once (the planner queues them again).
    """
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(url, heartbeat_s)
    names, directions = config.objective_names(), config.directions()
    try:
        study = optuna.create_study(study_name=config.study_name, storage=storage, directions=directions,
                                    load_if_exists=True)
    except ValueError as exc:  # same name, other number of objectives
        raise SweepError(f"study {config.study_name!r} in {redact(url)}: {exc}",
                         hint="use another --out, --storage or study_name") from None
    stored = study.user_attrs.get("fingerprint")
    if stored is None:
        if study.trials:
            raise SweepError(f"study {config.study_name!r} in {redact(url)} was not written by codesign sweep "
                             "(or by an older version)", hint="use another --out, --storage or study_name")
        study.set_user_attr("fingerprint", config.fingerprint())
        study.set_user_attr("scheme", SCHEME)
        study.set_user_attr("objectives", names)
        study.set_user_attr("config", json.loads(json.dumps(config.to_dict(), default=list)))
    elif stored != config.fingerprint():
        raise SweepError(f"study {config.study_name!r} in {redact(url)} was started with a different config "
                         f"(objectives {', '.join(study.user_attrs.get('objectives', []))})",
                         hint="only trials may change when resuming: use another --out, --storage or study_name")
    elif study.user_attrs.get("scheme") != SCHEME:
        raise SweepError(f"study {config.study_name!r} in {redact(url)} was written by an older codesign sweep",
                         hint="use another --out, --storage or study_name")
    if local:
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            fail(study, trial, "interrupted")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optuna.storages.fail_stale_trials(study)
    return study


def fail(study, trial, reason: str) -> None:
    """Mark a running trial failed (its worker is gone); a trial finished meanwhile stays."""
    from optuna.trial import TrialState

    with contextlib.suppress(Exception):
        study._storage.set_trial_user_attr(trial._trial_id, "interrupted", reason)
        study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)

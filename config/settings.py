"""One settings module, driven by environment variables (see README)."""
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# Production mode (set by the Docker image and docker-compose.yml): no development defaults for
# secrets, and secure cookies, HSTS and the HTTPS redirect on unless switched off (docs/security.md).
PRODUCTION = env.bool("PRODUCTION", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. In production (PRODUCTION=true) set SECRET_KEY to a long random "
            "value, e.g. the output of: python -c 'import secrets; print(secrets.token_urlsafe(50))'")
    SECRET_KEY = "dev-only-insecure-key-change-me"
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",
    "django.contrib.postgres",
    "django_htmx",
    "django_tables2",
    "django_filters",
    "crispy_forms",
    "crispy_bootstrap5",
    "template_partials",
    "guardian",
    "axes",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_celery_beat",
    "rest_framework",
    "access",
    "crm",
    "teams",
    "locking",
    "automation",
    "reviews",
    "blueprints",
    "approvals",
    "imports",
    "work",
    "exports",
    "dedupe",
    "demo",
    "backup",
    "pool",
    "security",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.headers.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Follows a logged-in session to its new key (security: who is signed in where).
    "security.middleware.SessionIndexMiddleware",
    "config.headers.NoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "access.middleware.SessionIdleTimeoutMiddleware",
    "access.middleware.OrganizationMiddleware",
    "access.middleware.UserLanguageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "crm.middleware.RequestIdMiddleware",
    "config.middleware.InputGuardMiddleware",  # its 400 page has the navigation
    "access.middleware.PasswordChangeRequiredMiddleware",
    # allauth: its login stages (e-mail verification, the two-factor code) and redirects.
    "allauth.account.middleware.AccountMiddleware",
    # A user whose organisation requires two-factor authentication and who has not set it up is
    # sent to set it up (access.two_factor), after a forced password change.
    "access.middleware.TwoFactorRequiredMiddleware",
    # django-axes: turns a refused login of a locked-out username and address into the login page
    # saying so (access.lockouts.lockout_response).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "access.context_processors.org_context",
                "crm.context_processors.navigation",
                "teams.context_processors.team_navigation",
                "pool.context_processors.navigation",
            ],
        },
    },
]

# The tenant seal (docs/security.md): the application connects with DATABASE_URL, as a role that owns no
# table and cannot bypass row security; migrations and operator commands run with DATABASE_AS_OWNER=1 and
# connect with DATABASE_OWNER_URL (the tables' owner; DATABASE_URL when unset). The owner's migrate creates
# the application's role (user and password of DATABASE_URL) and grants it the data.
_APP_DATABASE = env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/crm")
_OWNER_DATABASE = env.db("DATABASE_OWNER_URL") if env("DATABASE_OWNER_URL", default="") else dict(_APP_DATABASE)
DATABASE_AS_OWNER = env.bool("DATABASE_AS_OWNER", default=False)
DATABASE_APP_ROLE = _APP_DATABASE.get("USER", "")
DATABASE_APP_PASSWORD = _APP_DATABASE.get("PASSWORD", "")
# Credentials of the owner, for the one piece of DDL the worker does (custom fields' indexes).
DATABASE_OWNER = {key: _OWNER_DATABASE.get(key, "") for key in ("USER", "PASSWORD", "HOST", "PORT")}
DATABASES = {"default": dict(_OWNER_DATABASE if DATABASE_AS_OWNER else _APP_DATABASE)}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
# A kept connection is checked before a request reuses it: after a database restart the first
# request reconnects instead of failing (config.faults answers the ones cut off with a 503).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/1")
# Redis, degrading to "nothing cached" while it is down (config.cache).
CACHES = {"default": {"BACKEND": "config.cache.DegradingRedisCache", "LOCATION": REDIS_URL,
                     "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="")}}

AUTH_USER_MODEL = "access.User"
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses a locked-out login before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    # django-allauth's (Django's model backend, with allauth's username and e-mail lookups).
    "allauth.account.auth_backends.AuthenticationBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Passwords set through sign-up, an administrator or the user themselves (docs/security.md).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed logins (django-axes, attempts kept in the database): 5 wrong passwords for one username
# from one address lock that combination out for 15 minutes; an org administrator can lift it
# (Settings > Users > Locked-out logins). A successful login clears the count.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "access.lockouts.lockout_response"
AXES_USERNAME_CALLABLE = "access.lockouts.username_of"
AXES_VERBOSE = False
# Sessions (access.middleware.SessionIdleTimeoutMiddleware): logged out after this many seconds
# without a request (8 hours), and in any case SESSION_COOKIE_AGE (14 days) after logging in.
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=8 * 60 * 60)
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=14 * 24 * 60 * 60)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row

# Accounts (django-allauth, docs/security.md): log in with the username; sign-up asks for an
# organisation name, a username, an e-mail address and a password (access.forms.SignUpForm) and
# creates the organisation (access.actions.do_sign_up); the new administrator logs in after
# opening the link of the verification e-mail. Users added by an administrator, seeded demo
# users and users from before allauth count as verified. E-mail addresses are unique, whatever
# their case. Passwords are reset by an e-mailed link.
ACCOUNT_ADAPTER = "access.account_adapter.AccountAdapter"
ACCOUNT_FORMS = {
    "login": "access.forms.LoginForm",
    "signup": "access.forms.SignUpForm",
    "change_password": "access.forms.ChangePasswordForm",
}
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_SESSION_REMEMBER = True  # the session lasts SESSION_COOKIE_AGE, idle timeout aside
ACCOUNT_EMAIL_SUBJECT_PREFIX = env("ACCOUNT_EMAIL_SUBJECT_PREFIX", default="[TeamCRM] ")
ACCOUNT_EMAIL_NOTIFICATIONS = True  # "your password was changed", "two-factor was turned off"...
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if env.bool("SECURE_COOKIES", default=PRODUCTION) else "http"
ACCOUNT_LOGOUT_REDIRECT_URL = "login"
# Failed logins are counted by django-axes (above), not also by allauth's own limit, so that the
# login page explains one lockout; allauth's other limits (sign-ups, resets, codes) stay.
ACCOUNT_RATE_LIMITS = {"login_failed": False}
# Two-factor authentication (allauth.mfa): an authenticator app (TOTP) with recovery codes. No
# passkeys or security keys (Permissions-Policy keeps publickey-credentials-get off).
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env("MFA_TOTP_ISSUER", default="TeamCRM")
MFA_TOTP_TOLERANCE = 1  # a code of the 30 seconds before or after counts too (a phone's clock drifts)

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / ".data" / "media")))
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=25 * 1024 * 1024)
# Request caps (config.middleware): a body above REQUEST_MAX_BYTES is refused (413) from its
# Content-Length before it is read; form data (files excluded) above DATA_UPLOAD_MAX_MEMORY_SIZE
# or with more than DATA_UPLOAD_MAX_NUMBER_FIELDS fields is refused while being read.
REQUEST_MAX_BYTES = env.int("REQUEST_MAX_BYTES", default=ATTACHMENT_MAX_BYTES + 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("DATA_UPLOAD_MAX_NUMBER_FIELDS", default=2000)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"
DJANGO_TABLES2_TEMPLATE = "django_tables2/bootstrap5.html"

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Tests run worker processes on a queue of their own, with a short visibility timeout (the time after
# which a dead worker's unacknowledged tasks are handed out again; Redis's default is an hour).
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    # How often (seconds) a worker looks for such tasks: kombu's default is every 10 x 10 s.
    "unacked_restore_interval": env.int("CELERY_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": 1 if env("CELERY_RESTORE_INTERVAL", default="") else 10,
}
# While the broker is down: a publish gives up after a short try (the job is kept in the database
# and sent again by beat, access.unsent), and workers keep reconnecting for as long as it takes.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2,
                                    "interval_max": 0.2}
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE

# E-mail: the console backend (printed, nothing sent) unless EMAIL_URL names a server, e.g.
# smtp+tls://user:password@smtp.example.com:587. SITE_URL makes the absolute links in e-mails.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="TeamCRM <noreply@localhost>")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)  # seconds: a hung mail server fails the task, which retries
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")
NOTIFICATION_POLL_SECONDS = env.int("NOTIFICATION_POLL_SECONDS", default=30)  # how often the bell asks
# Webhooks of workflow rules: POSTs to private, loopback and link-local addresses are refused
# (a rule must not reach the database, Redis or a cloud metadata service from inside the network)
# unless this is set, as in development against a local receiver.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=False)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=6)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30.0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

RECYCLE_BIN_DAYS = 30
# Pages count records exactly up to this many and show "10,000+" above it (LIMIT cap+1).
CRM_COUNT_CAP = env.int("CRM_COUNT_CAP", default=10_000)

SESSION_COOKIE_HTTPONLY = True
# HTTPS only (docs/security.md): with SECURE_COOKIES on (the default in production) cookies are
# sent over HTTPS only, browsers are told to use HTTPS for a year (HSTS, subdomains included) and
# plain-HTTP requests are redirected. Behind a TLS-terminating proxy, TRUST_X_FORWARDED_PROTO=true
# makes Django believe the proxy's X-Forwarded-Proto (the proxy must set it, overwriting the
# client's), so the redirect does not loop.
SECURE_COOKIES = env.bool("SECURE_COOKIES", default=PRODUCTION)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 60 * 60) if SECURE_COOKIES else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_COOKIES and env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = SECURE_COOKIES and env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=SECURE_COOKIES)
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content Security Policy (django-csp): scripts, styles, fonts and images from this site only; no
# inline script, no style="" attribute or <style> element, no eval. Values that depend on the data
# travel in data- attributes (static/js/app.js). data: images are Bootstrap's SVG icons in its CSS.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# Browser features the CRM does not use, switched off for every page (config.headers).
PERMISSIONS_POLICY: dict[str, list[str]] = {feature: [] for feature in (
    "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media",
    "fullscreen", "geolocation", "gyroscope", "hid", "idle-detection", "magnetometer", "microphone",
    "midi", "payment", "picture-in-picture", "publickey-credentials-get", "screen-wake-lock",
    "serial", "usb", "xr-spatial-tracking",
)}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
}

CELERY_BEAT_SCHEDULE = {
    # Jobs the broker refused while it was down are sent again.
    "send-unsent-jobs": {"task": "access.tasks.send_unsent", "schedule": 30},
    "purge-recycle-bin": {"task": "crm.tasks.purge_recycle_bin", "schedule": 6 * 60 * 60},
    # Record events whose task was lost (a process died after the commit, the broker was down).
    "sweep-pending-events": {"task": "automation.tasks.sweep_pending_events", "schedule": 60},
    # Date-based workflow rules and delayed workflow actions come due (computed from the data).
    "workflow-dates": {"task": "automation.workflow_tasks.run_workflow_dates", "schedule": 60},
    "workflow-scheduled-actions": {"task": "automation.workflow_tasks.run_scheduled_actions", "schedule": 60},
    # Records that stay in a blueprint state longer than its time limit are escalated.
    "blueprint-sla": {"task": "blueprints.tasks.escalate_overdue", "schedule": 5 * 60},
    # Claimed records of customer pools that are due go back to their pool; owners are warned.
    "pool-recycling": {"task": "pool.tasks.recycle_pools", "schedule": crontab(hour=2, minute=0)},
    # Export files whose download link has expired are deleted.
    "expired-exports": {"task": "exports.tasks.purge_expired_exports", "schedule": 60 * 60},
}
# Exports: a list longer than this is written by a background job (with progress) instead of
# downloading at once; the job's download link lasts this many hours.
EXPORT_DIRECT_MAX_ROWS = env.int("EXPORT_DIRECT_MAX_ROWS", default=5000)
EXPORT_LINK_HOURS = env.int("EXPORT_LINK_HOURS", default=24)
EXPORT_CHUNK_SIZE = env.int("EXPORT_CHUNK_SIZE", default=2000)  # rows read (and names looked up) at a time
# Duplicates (dedupe): how many of the newest records a "Find duplicates" page compares, and the
# country whose prefix (+86 / 0086) a phone may carry or leave out.
DEDUPE_SCAN_ROWS = env.int("DEDUPE_SCAN_ROWS", default=100_000)
DEDUPE_PHONE_COUNTRY = env("DEDUPE_PHONE_COUNTRY", default="86")

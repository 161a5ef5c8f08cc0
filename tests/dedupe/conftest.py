"""The team cast (a Marketing space with a Case Studies module looking up accounts) and the
locking switch, shared with the teams and locking tests."""
from tests.locking.conftest import enable  # noqa: F401
from tests.teams.conftest import case_studies, manager, marketing, member, participant, requester  # noqa: F401

"""The README's configuration table lists exactly the keys of app/config.py.

Every key of ``DEFAULTS`` is read from the environment as ``RAPIDCARE_<KEY>``
(``from_prefixed_env``), so each must have a row, and a row must not name a key
that does not exist. Where a default is a number or a boolean, the row shows it.
"""
import json
import re
from pathlib import Path

from app.config import DEFAULTS, PROJECT_ROOT

README = Path(PROJECT_ROOT) / "README.md"


def configuration_rows():
    """[(keys, default cell)] of the table under '## Configuration'."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows.append((re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0]), cells[1]))
    return rows


def test_the_table_lists_exactly_the_configuration_keys():
    documented = [key for keys, _ in configuration_rows() for key in keys]
    assert len(documented) == len(set(documented)), "a key has two rows"
    assert sorted(set(documented) - set(DEFAULTS)) == [], "rows for keys app/config.py lacks"
    assert sorted(set(DEFAULTS) - set(documented)) == [], "keys of app/config.py without a row"


def test_numeric_and_boolean_defaults_match():
    for keys, default_cell in configuration_rows():
        defaults = [part.strip() for part in default_cell.split(" / ")]
        assert len(defaults) == len(keys), f"one default per key: {keys}"
        for key, shown in zip(keys, defaults):
            value = DEFAULTS[key]
            if isinstance(value, (bool, int)):
                assert f"`{json.dumps(value)}`" in shown, (key, value, shown)


def section(heading):
    text = README.read_text(encoding="utf-8")
    return text.split(f"\n{heading}\n", 1)[1].split("\n#", 1)[0]


def test_the_jobs_table_lists_exactly_the_scheduled_jobs():
    from app.ops.scheduler import JOBS

    documented = re.findall(r"^\| `([a-z-]+)` \|", section("### Scheduler"), flags=re.MULTILINE)
    assert documented == [spec.name for spec in JOBS]


def test_the_first_hour_facts_match_the_code():
    from app.demo import PATIENT_FUNDS_MINOR
    from app.extensions.swagger_ui import swagger_ui_version

    text = README.read_text(encoding="utf-8")
    assert f"Swagger UI {swagger_ui_version().lstrip('v')})" in text
    assert f"{PATIENT_FUNDS_MINOR / 100:,.2f} BDT" in text
    for picture in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (README.parent / picture).is_file(), picture

"""The Dockerfile, parsed: a base image pinned by digest, an unprivileged user, a read-only model directory."""

from __future__ import annotations

import re

from tests.containers.model.helpers import MODEL_DIR

DIGEST = re.compile(r"^(?P<image>[a-z0-9./-]+):(?P<tag>[A-Za-z0-9_.-]+)@sha256:[0-9a-f]{64}$")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in (MODEL_DIR / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    parsed = []
    for entry in logical:
        keyword, _, arguments = entry.strip().partition(" ")
        parsed.append((keyword.upper(), " ".join(arguments.split())))
    return parsed


def test_the_base_image_is_pinned_by_digest() -> None:
    # GIVEN the Dockerfile  WHEN its FROM lines are read
    bases = [arguments for keyword, arguments in instructions() if keyword == "FROM"]
    # THEN each names its tag and is pinned by a sha256 digest
    assert bases
    for base in bases:
        assert DIGEST.match(base.split(" ")[0]), f"FROM {base} is not pinned by digest"


def test_the_process_runs_as_an_unprivileged_user() -> None:
    parsed = instructions()
    users = [index for index, (keyword, _) in enumerate(parsed) if keyword == "USER"]
    # GIVEN the last USER instruction: it is the one the container runs as
    assert users, "no USER instruction: the container would run as root"
    user = parsed[users[-1]][1]
    name, _, group = user.partition(":")
    # THEN a numeric, non-zero uid and gid (a runtime can verify "not root" without /etc/passwd)
    assert name.isdigit() and int(name) > 0, user
    assert group.isdigit() and int(group) > 0, user
    # AND nothing after it switches back or runs commands as that user
    assert not [keyword for keyword, _ in parsed[users[-1] + 1 :] if keyword in ("USER", "RUN")]
    # AND the user is created with that uid, with no login shell
    runs = " ".join(arguments for keyword, arguments in parsed if keyword == "RUN")
    assert f"--uid {name}" in runs and "--shell /usr/sbin/nologin" in runs


def test_the_model_directory_and_the_code_are_read_only_to_the_process() -> None:
    runs = " ".join(arguments for keyword, arguments in instructions() if keyword == "RUN")
    # THEN /opt/ml/model belongs to root with no write bit, and the code is root's and read-only
    assert "chown root:root /opt/ml/model" in runs
    assert "chmod 0555 /opt/ml/model" in runs
    assert "chown -R root:root /opt/program" in runs and "chmod -R a-w /opt/program" in runs
    # AND the user owns no part of the model directory
    assert not re.search(r"chown [^&]*esteira[^&]*/opt/ml/model", runs)


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions():
        if keyword == "FROM":
            stages.append([])
        stages[-1].append((keyword, arguments))
    return stages


def test_the_csv_codec_is_built_by_the_shared_script_in_a_stage_the_image_does_not_keep() -> None:
    # GIVEN the Dockerfile's stages
    *builders, final = _stages()
    native = [stage for stage in builders if stage[0][1].endswith(" AS native")]
    assert len(native) == 1
    # THEN the native stage compiles with native/build.sh, the script make runs for the tests
    assert ("RUN", "sh /build/build.sh /build/_csv_codec.so") in native[0]
    assert (MODEL_DIR / "native" / "build.sh").is_file()
    # AND the image copies only the library, beside the module that loads it, and installs no compiler
    assert ("COPY", "--from=native /build/_csv_codec.so ./src/esteira_model/_csv_codec.so") in final
    assert not [arguments for keyword, arguments in final if keyword == "RUN" and "g++" in arguments]
    # AND the image's base is the builder's (the same libstdc++ the library was linked against)
    assert final[0][1] == native[0][0][1].removesuffix(" AS native")

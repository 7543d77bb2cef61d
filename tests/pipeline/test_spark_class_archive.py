"""The local Glue runner's class archive: named for its JVM and class path, published whole or not at all."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from pipeline.spark_class_archive import ClassArchive

# Stands in for pyspark's gateway JVM: it runs until its input ends, then writes the archive it was told to (or not).
FAKE_JVM = (
    "import sys\n"
    "sys.stdin.read()\n"
    "if sys.argv[2] == 'write':\n"
    "    open(sys.argv[1], 'wb').write(b'archive')\n"
    "sys.exit(int(sys.argv[3]))\n"
)


def fake_jvm(recording: Path, write: bool, code: int = 0) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-c", FAKE_JVM, str(recording), "write" if write else "skip", str(code)]
    return subprocess.Popen(argv, stdin=subprocess.PIPE)


def test_no_archive_means_no_option_and_a_recorded_one_is_mapped(tmp_path: Path) -> None:
    # GIVEN no archive for this JVM yet
    archive = ClassArchive.for_jvm("-XX:+UseSerialGC", tmp_path)
    # THEN the JVM starts without one, and a recorder writes under a temporary name in the same folder
    assert (archive.exists, archive.jvm_option()) == (False, "")
    recorder = archive.recorder()
    assert recorder.recording is not None and recorder.recording.parent == tmp_path
    assert recorder.jvm_option().startswith(f"-XX:ArchiveClassesAtExit={recorder.recording}")
    # WHEN the archive exists THEN the JVM maps it
    archive.path.write_bytes(b"archive")
    assert archive.jvm_option() == f"-XX:SharedArchiveFile={archive.path}"


def test_the_archive_is_named_for_the_jvm_options(tmp_path: Path) -> None:
    # GIVEN two sets of JVM options WHEN archives are named THEN the names differ (an archive fits one JVM only)
    first = ClassArchive.for_jvm("-XX:+UseSerialGC", tmp_path).path
    second = ClassArchive.for_jvm("-XX:+UseSerialGC -XX:TieredStopAtLevel=1", tmp_path).path
    assert first != second and first.parent == second.parent == tmp_path
    assert first == ClassArchive.for_jvm("-XX:+UseSerialGC", tmp_path).path


def test_a_recording_is_published_once_the_jvm_has_written_it(tmp_path: Path) -> None:
    # GIVEN a recording JVM that writes its archive when its input ends
    recorder = ClassArchive.for_jvm("-Xint", tmp_path).recorder()
    assert recorder.recording is not None
    jvm = fake_jvm(recorder.recording, write=True)
    # WHEN it is published
    published = recorder.publish(jvm)
    # THEN the JVM was ended, and the archive is in place under its own name, with no temporary file left
    assert published and jvm.returncode == 0
    assert recorder.path.read_bytes() == b"archive"
    assert sorted(p.name for p in tmp_path.iterdir()) == [recorder.path.name]


def test_a_published_archive_replaces_the_ones_recorded_for_other_options(tmp_path: Path) -> None:
    # GIVEN archives recorded for other JVM options, another recorder's unfinished file, and an unrelated file
    stale = ClassArchive.for_jvm("-XX:+UseSerialGC", tmp_path).path
    stale.write_bytes(b"old")
    other_recording = tmp_path / f"{stale.name}.0123abcd.partial"
    other_recording.write_bytes(b"being written")
    (tmp_path / "notes.txt").write_text("mine")
    recorder = ClassArchive.for_jvm("-Xint", tmp_path).recorder()
    assert recorder.recording is not None and recorder.publish(fake_jvm(recorder.recording, write=True))
    # WHEN the others are removed
    removed = recorder.remove_others()
    # THEN only the stale archive went: the new one, the unfinished recording and the unrelated file stay
    assert removed == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([recorder.path.name, other_recording.name, "notes.txt"])


def test_a_failed_recording_publishes_nothing(tmp_path: Path) -> None:
    # GIVEN JVMs that write nothing, or write and then fail
    for write, code in ((False, 0), (True, 1)):
        recorder = ClassArchive.for_jvm("-Xint", tmp_path).recorder()
        assert recorder.recording is not None
        # WHEN publishing THEN nothing is published and no partial file stays
        assert not recorder.publish(fake_jvm(recorder.recording, write=write, code=code))
        assert list(tmp_path.iterdir()) == []


def test_an_existing_archive_is_not_recorded_again(tmp_path: Path) -> None:
    # GIVEN an archive that is not a recording WHEN publishing THEN nothing happens
    archive = ClassArchive.for_jvm("-Xint", tmp_path)
    assert not archive.publish(None)


def test_the_real_jvm_records_and_maps_an_archive_with_these_options(tmp_path: Path) -> None:
    # GIVEN the JVM the local runner uses, and the runner's own JVM options
    from pipeline.glue_runner import JVM_OPTIONS

    java = shutil.which("java")
    assert java is not None, "the tests' set-up installs a JRE"
    archive = ClassArchive.for_jvm(JVM_OPTIONS, tmp_path)
    recorder = archive.recorder()
    # WHEN a JVM records with the recorder's option (and exits), and the recording is renamed as publish() does
    record = subprocess.run([java, *JVM_OPTIONS.split(), *recorder.jvm_option().split(), "-version"], check=False)
    assert record.returncode == 0 and recorder.recording is not None and recorder.recording.is_file()
    recorder.recording.replace(archive.path)
    # THEN a JVM started with the mapping option maps it (-Xshare:on fails rather than run without it)
    mapped = subprocess.run(
        [java, *JVM_OPTIONS.split(), archive.jvm_option(), "-Xshare:on", "-version"], capture_output=True, check=False
    )
    assert mapped.returncode == 0, mapped.stderr.decode()[-500:]

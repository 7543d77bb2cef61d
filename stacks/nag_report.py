"""Print the stacks of a cloud assembly and its cdk-nag summary: `python -m stacks.nag_report cdk.out`.

Exits 1 when any finding is unacknowledged (cdk synth has already failed in that case).
"""

import json
import sys
from collections import Counter
from pathlib import Path


def _stacks(assembly: Path) -> list[str]:
    """Stack names, including those of nested assemblies (the delivery pipeline's stages)."""
    manifest = json.loads((assembly / "manifest.json").read_text(encoding="utf-8"))
    names: list[str] = []
    for artifact_id, artifact in manifest["artifacts"].items():
        if artifact["type"] == "aws:cloudformation:stack":
            names.append(artifact.get("displayName", artifact_id))
        elif artifact["type"] == "cdk:cloud-assembly":
            names.extend(_stacks(assembly / artifact["properties"]["directoryName"]))
    return names


def summarize(assembly: Path) -> tuple[list[str], int]:
    stacks = sorted(_stacks(assembly))
    lines = [f"Stacks ({len(stacks)}):", *(f"  {name}" for name in stacks)]
    report_path = assembly / "validation-report.json"
    if not report_path.exists():
        return [*lines, "cdk-nag: no validation report found"], 1
    unacknowledged = 0
    for plugin in json.loads(report_path.read_text(encoding="utf-8"))["pluginReports"]:
        violations = plugin.get("violations", [])
        acknowledged = Counter(v["ruleName"].split("[")[0] for v in plugin.get("suppressedViolations", []))
        unacknowledged += len(violations)
        lines.append(
            f"{plugin['pluginName']}: {plugin['conclusion']}, {len(violations)} unacknowledged, "
            f"{sum(acknowledged.values())} acknowledged with reasons"
        )
        lines.extend(f"  acknowledged {rule}: {count}" for rule, count in sorted(acknowledged.items()))
        lines.extend(f"  UNACKNOWLEDGED {v['ruleName']}: {v.get('description', '')}" for v in violations)
    return lines, unacknowledged


def main() -> int:
    lines, unacknowledged = summarize(Path(sys.argv[1] if len(sys.argv) > 1 else "cdk.out"))
    print("\n".join(lines))
    return 1 if unacknowledged else 0


if __name__ == "__main__":
    sys.exit(main())

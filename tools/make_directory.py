#!/usr/bin/env python3
"""Write the default users conf/directory/default/1000.xml ... 1019.xml.

One file per user, in FreeSWITCH's vanilla shape: password from the preprocessor variable
``default_password`` (vars.xml), voicemail password and account code equal to the extension,
caller id "Extension <n>", calls routed in the ``default`` context.

Re-runnable: a file is rewritten only when its content would change.

    python3 tools/make_directory.py            # writes into conf/directory/default/
    python3 tools/make_directory.py --check    # exits 1 if any file is missing or differs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

FIRST_USER = 1000
LAST_USER = 1019
DIRECTORY = Path(__file__).resolve().parent.parent / "conf" / "directory" / "default"

TEMPLATE = """\
<include>
  <user id="{user}">
    <params>
      <param name="password" value="$${{default_password}}"/>
      <param name="vm-password" value="{user}"/>
    </params>
    <variables>
      <variable name="toll_allow" value="domestic,international,local"/>
      <variable name="accountcode" value="{user}"/>
      <variable name="user_context" value="default"/>
      <variable name="effective_caller_id_name" value="Extension {user}"/>
      <variable name="effective_caller_id_number" value="{user}"/>
      <variable name="outbound_caller_id_name" value="$${{outbound_caller_name}}"/>
      <variable name="outbound_caller_id_number" value="$${{outbound_caller_id}}"/>
      <variable name="callgroup" value="techsupport"/>
    </variables>
  </user>
</include>
"""


def user_xml(user: int) -> str:
    """Return the directory entry of one user."""
    return TEMPLATE.format(user=user)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report differences, write nothing")
    parser.add_argument("--out", type=Path, default=DIRECTORY, help="target directory")
    args = parser.parse_args(argv)

    out: Path = args.out
    stale = []
    for user in range(FIRST_USER, LAST_USER + 1):
        path = out / f"{user}.xml"
        text = user_xml(user)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path)
        if not args.check:
            out.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")

    verb = "differ" if args.check else "written"
    print(f"{len(stale)} of {LAST_USER - FIRST_USER + 1} user files {verb}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())

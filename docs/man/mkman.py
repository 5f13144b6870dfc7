#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Section 3 man pages for libvmmig's public calls, made from the headers.

Every function declared with VMMIG_API gets NAME.3. Its text is the comment
block right above the declaration (kernel-doc style, "name() - summary",
then the description; a paragraph starting "Return:" becomes RETURN VALUE).

  mkman.py --list HEADER...          the function names, one per line
  mkman.py --check HEADER...         exit 1, naming calls with no doc block
  mkman.py --out DIR --version V HEADER...   write DIR/NAME.3 for each
"""
import argparse
import os
import re
import sys

DECL = re.compile(r"VMMIG_API\b([^;{]*?)\b(vmmig_\w+)\s*\(([^;{]*?)\)\s*;",
                  re.S)


def calls(path):
    """(name, prototype, doc or None) for each public call in @path."""
    text = open(path, encoding="utf-8").read()
    out = []
    for m in DECL.finditer(text):
        ret = " ".join(m.group(1).split())
        args = " ".join(m.group(3).split())
        proto = "%s%s%s(%s);" % (ret, "" if ret.endswith("*") else " ",
                                 m.group(2), args)
        out.append((m.group(2), proto, doc_before(text, m.start())))
    return out


def doc_before(text, pos):
    """The comment block that ends right before @pos, cleaned, or None."""
    before = text[:pos].rstrip()
    if not before.endswith("*/"):
        return None
    start = before.rfind("/*")
    if start < 0:
        return None
    lines = before[start + 2:-2].splitlines()
    clean = []
    for ln in lines:
        ln = ln.strip()
        if ln.startswith("*"):
            ln = ln[1:]
            ln = ln[1:] if ln.startswith(" ") else ln
        clean.append(ln.rstrip())
    body = "\n".join(clean).strip("\n *")
    return body or None


def split_doc(name, doc):
    """(summary, description paragraphs, return text)."""
    m = re.match(r"\s*" + re.escape(name) + r"\(\)\s*-\s*", doc)
    if m:
        doc = doc[m.end():]
    # The summary is the first sentence.
    flat = " ".join(doc.split())
    sm = re.match(r"(.+?[.:])(\s|$)", flat)
    summary = (sm.group(1) if sm else flat).rstrip(".:")
    ret = ""
    rm = re.search(r"(?:^|\n|\s)Return(?:s)?:\s*(.*)", doc, re.S)
    if rm:
        ret = " ".join(rm.group(1).split())
        doc = doc[:rm.start()]
    paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n", doc)]
    return summary, [p for p in paras if p], ret


def esc(s):
    s = s.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + s if s.startswith((".", "'")) else s


def page(name, proto, doc, header, version, siblings):
    summary, paras, ret = split_doc(name, doc)
    out = ['.TH %s 3 "" "libvmmig %s" "libvmmig Manual"' %
           (name.upper(), version),
           ".SH NAME", "%s \\- %s" % (name, esc(summary)),
           ".SH SYNOPSIS", ".nf", ".B #include <vmmig/vmmig.h>",
           "(declared in <vmmig/%s>)" % header, ".PP",
           ".BI \"%s\"" % esc(proto).replace('"', '\\(dq'), ".fi",
           ".SH DESCRIPTION"]
    for i, p in enumerate(paras):
        if i:
            out.append(".PP")
        out.append(esc(p))
    out.append(".SH RETURN VALUE")
    out.append(esc(ret) if ret else
               "See DESCRIPTION. Calls that return int return a value "
               ">= 0 on success or a negative errno value.")
    also = [s for s in siblings if s != name][:12]
    if also:
        out.append(".SH SEE ALSO")
        out.append(",\n".join(".BR %s (3)" % s for s in also))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--out")
    ap.add_argument("--version", default="")
    ap.add_argument("headers", nargs="+")
    a = ap.parse_args()
    found = [(h, calls(h)) for h in a.headers]
    if a.list:
        for _, cs in found:
            for name, _, _ in cs:
                print(name)
        return 0
    missing = [n for _, cs in found for n, _, d in cs if not d]
    if a.check:
        for n in missing:
            print("no doc comment: %s" % n)
        return 1 if missing else 0
    os.makedirs(a.out, exist_ok=True)
    for h, cs in found:
        names = [c[0] for c in cs]
        for name, proto, doc in cs:
            # SEE ALSO: the calls on the same object (vmmig_source_*), else
            # the header's.
            obj = name.split("_")[1]
            same = [n for n in names if n.split("_")[1] == obj]
            with open(os.path.join(a.out, name + ".3"), "w") as f:
                f.write(page(name, proto, doc or "", os.path.basename(h),
                             a.version, same if len(same) > 1 else names))
    return 0


if __name__ == "__main__":
    sys.exit(main())

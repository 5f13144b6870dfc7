#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Section 3 man pages for libvmmig's public calls, made from the headers.

Every function declared with VMMIG_API gets NAME.3. Its text is the comment
block right above the declaration, kernel-doc style:

  /**
   * vmmig_thing_do() - one-sentence summary.
   * @arg: what it is                       (ARGUMENTS)
   *
   * What the call does, in paragraphs.     (DESCRIPTION)
   *
   * Thread: which threads may call it.     (THREADS)
   * Callbacks: which of the embedder's callbacks it makes run, and on
   * which thread; "none." if it triggers none.   (CALLBACKS)
   * Return: values and errors.             (RETURN VALUE)
   */

A tag ("Thread:", "Callbacks:", "Return:") starts a line and its section
runs to the next tag or the end of the block.

  mkman.py --list HEADER...          the function names, one per line
  mkman.py --check HEADER...         exit 1, naming each call whose doc block
                                     is missing or lacks one of the parts
  mkman.py --out DIR --version V HEADER...   write DIR/NAME.3 for each
"""
import argparse
import os
import re
import sys

DECL = re.compile(r"^VMMIG_API\b([^;{]*?)\b(vmmig_\w+)\s*\(([^;{]*?)\)\s*;",
                  re.S | re.M)


def calls(path):
    """(name, prototype, doc or None, [parameter names]) for each public
    call in @path."""
    text = open(path, encoding="utf-8").read()
    out = []
    for m in DECL.finditer(text):
        ret = " ".join(m.group(1).split())
        args = " ".join(m.group(3).split())
        proto = "%s%s%s(%s);" % (ret, "" if ret.endswith("*") else " ",
                                 m.group(2), args)
        params = [re.sub(r"\[.*$", "", a).split()[-1].lstrip("*")
                  for a in args.split(",") if a.strip() != "void"]
        out.append((m.group(2), proto, doc_before(text, m.start()), params))
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


TAGS = ("Thread", "Callbacks", "Return")
TAG_LINE = re.compile(r"^(%s):\s*" % "|".join(TAGS), re.M)
ARG_LINE = re.compile(r"^@(\w+):\s*(.*)$")


def split_doc(name, doc):
    """(summary, [(arg, text)], description paragraphs, {tag: text}), or
    None when the block does not start with "name() - "."""
    m = re.match(r"\s*" + re.escape(name) + r"\(\)\s*-\s*", doc)
    if not m:
        return None
    doc = doc[m.end():]
    tags = {}
    tm = list(TAG_LINE.finditer(doc))
    for i, t in enumerate(tm):
        end = tm[i + 1].start() if i + 1 < len(tm) else len(doc)
        tags[t.group(1)] = " ".join(doc[t.end():end].split())
    if tm:
        doc = doc[:tm[0].start()]
    # "@arg: text" lines (with their indented continuations) are ARGUMENTS.
    args, body, in_arg = [], [], False
    for ln in doc.split("\n"):
        am = ARG_LINE.match(ln)
        if am:
            args.append([am.group(1), am.group(2)])
            in_arg = True
        elif in_arg and ln.startswith(" ") and ln.strip():
            args[-1][1] += " " + ln.strip()
        else:
            body.append(ln)
            in_arg = False
    doc = "\n".join(body)
    # The summary is the first sentence.
    flat = " ".join(doc.split())
    sm = re.match(r"(.+?(?<!e\.g)(?<!i\.e)\.)(\s|$)", flat)
    summary = (sm.group(1) if sm else flat).rstrip(".")
    paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n", doc)]
    paras = [p for p in paras if p]
    # The summary is NAME's text; DESCRIPTION keeps what follows it.
    if paras:
        first = paras[0]
        paras[0] = first[len(sm.group(1)):].strip() if sm and \
            first.startswith(sm.group(1)) else first
        paras = [p for p in paras if p]
    return summary, args, paras, tags


def problems(name, doc, params):
    """What the doc block of @name lacks, as a list of words."""
    if not doc:
        return ["doc comment"]
    parts = split_doc(name, doc)
    if not parts:
        return ['"%s() - summary" line' % name]
    summary, args, _, tags = parts
    out = [] if summary else ["summary"]
    named = [a for a, _ in args]
    out += ["@%s: line" % p for p in params if p not in named]
    return out + ["%s: part" % t for t in TAGS if not tags.get(t)]


def esc(s):
    s = s.replace("\\", "\\e").replace("-", "\\-")
    # @arg (an argument named in the text) in italics.
    s = re.sub(r"@(\w+)", r"\\fI\1\\fR", s)
    return "\\&" + s if s.startswith((".", "'")) else s


def page(name, proto, doc, header, version, siblings):
    summary, args, paras, tags = split_doc(name, doc)
    out = ['.TH %s 3 "" "libvmmig %s" "libvmmig Manual"' %
           (name.upper(), version),
           ".SH NAME", "%s \\- %s" % (name, esc(summary)),
           ".SH SYNOPSIS", ".nf", ".B #include <vmmig/vmmig.h>",
           "(declared in <vmmig/%s>)" % header, ".PP",
           ".BI \"%s\"" % esc(proto).replace('"', '\\(dq'), ".fi"]
    if args:
        out.append(".SH ARGUMENTS")
        for a, text in args:
            out += [".TP", ".I %s" % a, esc(" ".join(text.split()))]
    out.append(".SH DESCRIPTION")
    for i, p in enumerate(paras or [summary + "."]):
        if i:
            out.append(".PP")
        out.append(esc(p))
    for tag, title in (("Thread", "THREADS"), ("Callbacks", "CALLBACKS"),
                       ("Return", "RETURN VALUE")):
        text = tags.get(tag, "Not documented.")
        out.append(".SH %s" % title)
        out.append(esc(text[:1].upper() + text[1:]))
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
            for c in cs:
                print(c[0])
        return 0
    if a.check:
        bad = 0
        for _, cs in found:
            for n, _, d, params in cs:
                for p in problems(n, d, params):
                    print("%s: no %s" % (n, p))
                    bad += 1
        return 1 if bad else 0
    os.makedirs(a.out, exist_ok=True)
    for h, cs in found:
        names = [c[0] for c in cs]
        for name, proto, doc, _ in cs:
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

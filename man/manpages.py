#!/usr/bin/env python3
"""man/manpages.py: section 3 man pages for coil's public calls, made from
the comments in include/coil/*.h, so that a page cannot say something its
header does not.

  manpages.py --headers DIR --out DIR      write OUT/<call>.3 for every
                                           COIL_API call (and remove pages
                                           of calls that are gone)
  manpages.py --headers DIR --check DIR [--symbols FILE]
                                           fail (exit 1) when a call has no
                                           comment, no page, a stale page
                                           (its SYNOPSIS differs from the
                                           header), a page groff warns
                                           about, or when FILE (the export
                                           list) names a call no header
                                           declares

What a page holds, and where it comes from:
  NAME         the call and the first sentence of its comment
  SYNOPSIS     the #include and the prototype exactly as the header has it
               (whitespace folded, COIL_API dropped)
  DESCRIPTION  the comment above the declaration (or after it on the same
               line); calls declared together under one comment share it;
               without "Returns" sentences
  RETURN VALUE the comment's "Returns ..." sentences, with the -errno codes
  NOTES        the comment of the header's section ("---- mutex ----") and
               the header's opening comment: what holds for every call there
  SEE ALSO     calls the comment names, then the section's or header's others
"""
import argparse
import os
import re
import subprocess
import sys

API_DECL = re.compile(r"(?<!#define )\bCOIL_API\b\s+([^;{}#]*?\))\s*;", re.S)
CALL_NAME = re.compile(r"\b(coil_[A-Za-z0-9_]+)\s*\(")
SECTION_RULE = re.compile(r"^-{3,}\s*(.*?)\s*-*\s*$")
ERRNO = re.compile(r"-E[A-Z0-9]+")


class Comment:
    def __init__(self, text, start, end, line_start, line_end, trailing):
        self.text = text          # the comment's lines, markers stripped
        self.start, self.end = start, end
        self.line_start, self.line_end = line_start, line_end
        self.trailing = trailing  # code before it on its first line


class Call:
    def __init__(self, name, proto, header, line_start, line_end):
        self.name, self.proto, self.header = name, proto, header
        self.line_start, self.line_end = line_start, line_end
        self.doc = None           # its own comment's text
        self.shared_with = None   # the call whose comment it shares
        self.section = None       # (title, text) of the enclosing section
        self.overview = None      # the header's opening comment


def comment_text(raw):
    """The lines of a /* */ comment without the markers and the ' * ' margin."""
    body = raw[2:-2]
    lines = body.split("\n")
    out = []
    for i, ln in enumerate(lines):
        s = ln.rstrip()
        if i > 0:
            m = re.match(r"^\s*\*( |$)?", s)
            if m:
                s = s[m.end():]
            else:
                s = s.strip()
        else:
            s = s[1:] if s.startswith(" ") else s
        out.append(s)
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def parse_header(path):
    src = open(path, encoding="utf-8").read()
    comments = []
    code = list(src)
    pos = 0
    while True:
        a = src.find("/*", pos)
        if a < 0:
            break
        b = src.find("*/", a + 2)
        if b < 0:
            raise SystemExit(f"{path}: unterminated comment")
        b += 2
        bol = src.rfind("\n", 0, a) + 1
        trailing = src[bol:a].strip() != ""
        comments.append(Comment(comment_text(src[a:b]), a, b, line_of(src, a),
                                line_of(src, b - 1), trailing))
        for i in range(a, b):
            if code[i] != "\n":
                code[i] = " "
        pos = b
    code = "".join(code)
    header = "coil/" + os.path.basename(path)
    overview = comments[0].text if comments and comments[0].line_start <= 2 else None
    calls = []
    for m in API_DECL.finditer(code):
        proto = " ".join(m.group(1).split())
        proto = proto.replace("( ", "(").replace(" )", ")")
        names = CALL_NAME.findall(proto)
        if not names:
            continue
        c = Call(names[0], proto + ";", header, line_of(code, m.start()),
                 line_of(code, m.end() - 1))
        c.overview = overview
        end_pos = m.end()
        for cm in comments:
            if cm is comments[0] and overview is not None:
                continue
            if cm.end <= m.start():
                title = section_title(cm.text)
                if title is not None:
                    rest = cm.text.split("\n", 1)[1] if "\n" in cm.text else ""
                    c.section = (title, rest.strip())
            # The comment above: it ends on the line before the declaration.
            if not cm.trailing and cm.line_end == c.line_start - 1:
                text = cm.text
                if section_title(text) is not None:
                    text = text.split("\n", 1)[1].strip() if "\n" in text else ""
                if text:
                    c.doc = text
            # A comment after the declaration on its last line.
            if cm.trailing and cm.start >= end_pos and cm.line_start == c.line_end \
                    and code[end_pos:cm.start].strip() == "":
                c.doc = (c.doc + "\n\n" + cm.text) if c.doc else cm.text
        # A declaration right under another one, with no comment of its own,
        # shares the comment above the first of them.
        if c.doc is None and calls and calls[-1].header == header \
                and calls[-1].line_end == c.line_start - 1:
            prev = calls[-1]
            c.shared_with = prev.shared_with or prev
        calls.append(c)
    return calls


def section_title(text):
    first = text.split("\n", 1)[0]
    m = SECTION_RULE.match(first)
    return m.group(1) if m and m.group(1) else None


def doc_of(call):
    if call.doc:
        return call.doc
    if call.shared_with is not None:
        return call.shared_with.doc
    return None


# ---- text -----------------------------------------------------------------

def paragraphs(text):
    paras, cur = [], []
    for ln in text.split("\n"):
        if ln.strip():
            cur.append(ln)
        elif cur:
            paras.append(cur)
            cur = []
    if cur:
        paras.append(cur)
    return paras


def is_preformatted(lines):
    return any(re.match(r"^\s{2,}\S", ln) for ln in lines) or \
        any(re.match(r"^\s*(\||[-*] |\d+\. )", ln) for ln in lines[1:])


def sentences(text):
    """Split prose at '. ' outside parentheses; keeps each sentence's end."""
    out, depth, start = [], 0, 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "([":
            depth += 1
        elif ch in ")]" and depth:
            depth -= 1
        elif ch == "." and depth == 0 and (i + 1 == len(text) or text[i + 1].isspace()):
            prev = text[max(0, i - 4):i]
            if not re.search(r"(\be\.g|\bi\.e|\betc|\bvs)$", prev):
                out.append(text[start:i + 1].strip())
                start = i + 1
        i += 1
    if text[start:].strip():
        out.append(text[start:].strip())
    return out


def split_returns(doc):
    """(description paragraphs, return-value paragraphs): "Returns ..."
    sentences move to the second, with the table of codes after one that
    ends in ':' (indented lines, in the same paragraph or the next)."""
    desc, ret = [], []
    take_next = False
    for p in paragraphs(doc):
        if take_next:
            ret.append(p)
            take_next = False
            continue
        k = next((i for i, ln in enumerate(p) if re.match(r"^\s{2,}\S", ln)), len(p))
        prose, table = p[:k], p[k:]
        if not prose or is_preformatted(prose):
            desc.append(p)
            continue
        kept, moved = [], []
        for s in sentences(" ".join(ln.strip() for ln in prose)):
            if re.match(r"^(Returns|Return value|Both: )", s) or \
                    moved and moved[-1].endswith(":"):
                moved.append(s)
            else:
                kept.append(s)
        if kept:
            desc.append([" ".join(kept)])
        if moved:
            ret.append([" ".join(moved)])
        colon = bool(moved) and moved[-1].endswith(":")
        if table:
            (ret if colon else desc).append(table)
        else:
            take_next = colon
    return desc, ret


def without_parentheses(s):
    out, depth = [], 0
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return re.sub(r"\s+([,;:.])", r"\1", " ".join("".join(out).split()))


def short_description(call, doc):
    """NAME's line: the comment's first sentence, short."""
    if doc and not is_code_list(doc):
        first = sentences(" ".join(ln.strip() for ln in paragraphs(doc)[0]))[0]
    else:
        # Only codes ("0, -EBUSY, -EINVAL"): say what the call is for by its
        # name, in the words of its section ("condition variable").
        what = call.section[0] if call.section else call.header
        verb = {"init": "make a fresh {}", "destroy": "check that no fiber waits on the {}"}
        return verb.get(call.name.rsplit("_", 1)[-1], "{}").format(what)
    first = first.rstrip(".").strip()
    if len(first) > 70:
        first = without_parentheses(first)
    if len(first) > 78:
        for sep in (": ", "; ", ", "):
            k = first.find(sep, 20)
            if 0 < k <= 78:
                first = first[:k]
                break
        else:
            first = first[:78].rsplit(" ", 1)[0] + "..."
    if len(first) > 1 and first[0].isupper() and not first[1].isupper():
        first = first[0].lower() + first[1:]
    return first


def esc(s):
    s = s.replace("\\", "\\e").replace("-", "\\-")
    return s


def highlight(s, calls):
    s = esc(s)

    def bold(m):
        name = m.group(1)
        return f"\\fB{name}\\fP" if name in calls else name
    return re.sub(r"\b(coil_[A-Za-z0-9_]+)\b", bold, s)


def line_safe(s):
    return "\\&" + s if s[:1] in (".", "'") else s


def render_paras(paras, calls):
    out = []
    for p in paras:
        out.append(".PP")
        if is_preformatted(p):
            out.append(".nf")
            out.append(".RS 2")
            indent = min(len(ln) - len(ln.lstrip()) for ln in p)
            for ln in p:
                out.append(line_safe(highlight(ln[indent:], calls)))
            out.append(".RE")
            out.append(".fi")
        else:
            text = " ".join(ln.strip() for ln in p)
            # One sentence per line, as groff likes it.
            for s in sentences(text):
                out.append(line_safe(highlight(s, calls)))
    return out


def return_value(call, doc, ret_paras):
    if ret_paras:
        return ret_paras
    rtype = call.proto.split(call.name)[0].strip()
    if rtype == "void":
        return [["None."]]
    if doc:
        codes = sorted(set(ERRNO.findall(doc)))
        first = sentences(" ".join(ln.strip() for ln in paragraphs(doc)[0]))[0]
        if re.match(r"^(\d|-E)", first):
            return [["Returns " + first.rstrip(".") + "."]]
        if re.match(r"^(The|Whether|How many|Which|A |An )", first):
            text = first
            if codes and not ERRNO.search(first):
                text += " Codes named above: " + ", ".join(codes) + "."
            return [[text]]
        if codes:
            return [["See DESCRIPTION; the codes it names: " + ", ".join(codes) + "."]]
    return [["See DESCRIPTION."]]


def is_code_list(text):
    return re.match(r"^(\d|-E)", text.strip()) is not None


def synopsis_lines(proto, width=72):
    """The prototype, broken after commas (aligned under the first
    parameter) when it is longer than a line."""
    if len(proto) <= width:
        return [proto]
    k = proto.index("(") + 1
    lines, cur = [], proto[:k]
    for part in re.split(r"(?<=,) ", proto[k:]):
        if len(cur) + 1 + len(part) > width and cur.strip() and not cur.endswith("("):
            lines.append(cur)
            cur = " " * k + part
        else:
            cur = cur + ("" if cur.endswith("(") else " ") + part
    lines.append(cur)
    return lines


def render(call, by_name, version):
    calls = set(by_name)
    doc = doc_of(call)
    if doc and is_code_list(doc):
        desc, ret = [], [["Returns " + " ".join(doc.split()).rstrip(".") + "."]]
    else:
        desc, ret = split_returns(doc) if doc else ([], [])
    lead = None
    if not desc and call.section and call.section[1]:
        lead = f"From the part of \\fI{call.header}\\fP about {esc(call.section[0])}:"
        desc = paragraphs(call.section[1])
    out = []
    out.append(f'.\\" Made by man/manpages.py from include/{call.header}: edit the header.')
    out.append(f'.TH {call.name.upper()} 3 "" "coil {version}" "coil manual"')
    out.append(".nh")
    out.append(".ad l")
    out.append(".SH NAME")
    out.append(f"{esc(call.name)} \\- {esc(short_description(call, doc))}")
    out.append(".SH SYNOPSIS")
    out.append(".nf")
    out.append(f".B #include <{call.header}>")
    out.append(".PP")
    for ln in synopsis_lines(call.proto):
        out.append(f".B \"{esc(ln)}\"")
    out.append(".fi")
    out.append(".PP")
    out.append("Link with \\fI\\-lcoil\\fP (\\fBpkg\\-config \\-\\-libs coil\\fP).")
    out.append(".SH DESCRIPTION")
    if call.shared_with is not None:
        out.append(f"Described together with \\fB{call.shared_with.name}\\fP, "
                   "declared just above it:")
    if lead:
        out.append(lead)
    out += render_paras(desc or [["See RETURN VALUE."]], calls)
    out.append(".SH RETURN VALUE")
    out += render_paras(return_value(call, doc, ret), calls)
    if call.overview:
        # What the header's opening comment says holds for all its calls.
        overview = re.sub(r"^coil/[a-z_]+\.h:\s*", "", call.overview)
        out.append(".SH NOTES")
        out.append(f"From \\fI{call.header}\\fP:")
        out += render_paras(paragraphs(overview), calls)
    # SEE ALSO: the calls the comment names, then the nearest neighbours in
    # the header (declared next to each other, they belong together).
    see = []
    for n in re.findall(r"\b(coil_[A-Za-z0-9_]+)\b", doc or ""):
        if n in calls and n != call.name and n not in see:
            see.append(n)
    here = [c.name for c in by_name.values() if c.header == call.header]
    i = here.index(call.name)
    near = sorted(here, key=lambda n: (abs(here.index(n) - i), here.index(n)))
    for n in near:
        if len(see) >= 8:
            break
        if n != call.name and n not in see:
            see.append(n)
    if see:
        out.append(".SH SEE ALSO")
        for i, n in enumerate(see):
            out.append(f".BR {esc(n)} (3){',' if i + 1 < len(see) else ''}")
    return "\n".join(out) + "\n"


# ---- commands ---------------------------------------------------------------

def all_calls(headers):
    calls = {}
    for fn in sorted(os.listdir(headers)):
        if fn.endswith(".h"):
            for c in parse_header(os.path.join(headers, fn)):
                if c.name in calls:
                    raise SystemExit(f"{c.name}: declared twice ({calls[c.name].header}, {c.header})")
                calls[c.name] = c
    return calls


def version_of(headers):
    try:
        src = open(os.path.join(headers, "version.h"), encoding="utf-8").read()
        return re.search(r'COIL_VERSION_STRING\s+"([^"]+)"', src).group(1)
    except (OSError, AttributeError):
        return "unknown"


def write_pages(calls, out_dir, version):
    os.makedirs(out_dir, exist_ok=True)
    for c in calls.values():
        page = render(c, calls, version)
        path = os.path.join(out_dir, c.name + ".3")
        try:
            if open(path, encoding="utf-8").read() == page:
                continue
        except OSError:
            pass
        with open(path, "w", encoding="utf-8") as f:
            f.write(page)
    for fn in os.listdir(out_dir):
        if fn.endswith(".3") and fn[:-2] not in calls:
            os.remove(os.path.join(out_dir, fn))


def page_prototype(page):
    """The prototype in a page's SYNOPSIS, unescaped and folded."""
    m = re.search(r"^\.SH SYNOPSIS\n(.*?)^\.fi", page, re.S | re.M)
    if not m:
        return None
    lines = [ln for ln in m.group(1).split("\n") if ln.startswith('.B "')]
    text = " ".join(ln[4:-1] for ln in lines)
    text = text.replace("\\-", "-").replace("\\e", "\\")
    return " ".join(text.split()).replace("( ", "(")


def groff_warns(paths):
    r = subprocess.run(["groff", "-man", "-ww", "-z", "-Tutf8"] + paths,
                       capture_output=True, text=True)
    return r.stderr.strip() or (f"exit {r.returncode}" if r.returncode else "")


def check(calls, pages, symbols, version):
    bad = []
    for c in calls.values():
        if doc_of(c) is None:
            bad.append(f"{c.header}: {c.name} has no comment (document it in the header)")
        path = os.path.join(pages, c.name + ".3")
        if not os.path.exists(path):
            bad.append(f"{c.name}: no page {path}")
            continue
        page = open(path, encoding="utf-8").read()
        if page_prototype(page) != c.proto:
            bad.append(f"{c.name}: the page's SYNOPSIS is not the header's prototype "
                       f"(stale: rebuild)\n    header: {c.proto}")
        elif page != render(c, calls, version):
            bad.append(f"{c.name}: the page differs from what the header says (stale: rebuild)")
    # Every page through groff with all warnings: once for all, then page by
    # page to name the ones it warned about.
    present = [os.path.join(pages, c + ".3") for c in calls
               if os.path.exists(os.path.join(pages, c + ".3"))]
    if present and groff_warns(present):
        for path in present:
            w = groff_warns([path])
            if w:
                bad.append(f"{os.path.basename(path)}: groff: {w}")
    for fn in sorted(os.listdir(pages)):
        if fn.endswith(".3") and fn[:-2] not in calls:
            bad.append(f"{fn}: a page for a call no header declares")
    if symbols:
        for ln in open(symbols, encoding="utf-8"):
            s = ln.strip()
            if s and not s.startswith("#") and s not in calls:
                bad.append(f"{s}: exported ({symbols}) but no header declares it with COIL_API")
    for b in bad:
        print("manpages: " + b, file=sys.stderr)
    print(f"manpages: {len(calls)} calls, {len(bad)} problems")
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--headers", required=True)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--out")
    g.add_argument("--check")
    ap.add_argument("--symbols")
    ap.add_argument("--stamp")
    a = ap.parse_args()
    calls = all_calls(a.headers)
    version = version_of(a.headers)
    if a.out:
        write_pages(calls, a.out, version)
        if a.stamp:
            open(a.stamp, "w").close()
        return 0
    return check(calls, a.check, a.symbols, version)


if __name__ == "__main__":
    sys.exit(main())

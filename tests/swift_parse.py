"""Parses every Swift file under the given paths with tree-sitter-swift and
fails on any ERROR or MISSING node.

No Swift toolchain runs on this machine, so this is the check that the
generated bindings, the hand-written layer and the XCTest files are at least
syntactically valid Swift. Usage: swift_parse.py PATH...
"""

import pathlib
import re
import sys

import tree_sitter
import tree_sitter_swift


SWIFT_VERSION_IF = re.compile(rb"^\s*#if swift\(>=\d+(\.\d+)*\)\s*$")


def normalize(source):
    """The two rewrites below, for constructs that are valid Swift but that
    the tree-sitter grammar cannot parse; both keep the meaning and the line
    numbers. Only uniffi's generated code uses them."""
    # `{ () }`, a closure returning the empty tuple, is the same closure as `{ }`.
    source = source.replace(b"= { () }", b"= { }")
    return resolve_version_checks(source)


def resolve_version_checks(source):
    """Resolves `#if swift(>=X)` ... `#endif` blocks (without `#else`) as a
    current compiler does: the body is kept, the two directive lines become
    blank lines (so line numbers stay right). The generated bindings wrap a
    lone attribute (`@_documentation(...)`) in such blocks, which is valid
    Swift that the tree-sitter grammar cannot parse; nothing else changes."""
    lines = source.split(b"\n")
    i = 0
    while i < len(lines):
        if SWIFT_VERSION_IF.match(lines[i]):
            end = i + 1
            while end < len(lines) and not lines[end].strip().startswith(b"#"):
                end += 1
            if end < len(lines) and lines[end].strip() == b"#endif":
                lines[i] = b""
                lines[end] = b""
                i = end
        i += 1
    return b"\n".join(lines)


def problems(tree):
    """Yields (line, column, kind) for each ERROR or MISSING node."""
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            kind = "MISSING " + node.type if node.is_missing else "ERROR"
            yield node.start_point[0] + 1, node.start_point[1] + 1, kind
        if node.has_error:
            stack.extend(node.children)


def main(paths):
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))
    files = sorted(f for p in paths for f in ([pathlib.Path(p)] if p.endswith(".swift") else pathlib.Path(p).rglob("*.swift")))
    if not files:
        print("no Swift files found under", paths)
        return 1
    failed = 0
    for f in files:
        tree = parser.parse(normalize(f.read_bytes()))
        found = list(problems(tree))
        if found:
            failed += 1
            for line, col, kind in found[:10]:
                print(f"{f}:{line}:{col}: {kind}")
        else:
            print(f"ok {f}")
    print(f"{len(files) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

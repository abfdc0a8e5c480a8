"""Parses every Swift file under the given paths with tree-sitter-swift and
fails on any ERROR or MISSING node, and on a call without `try` or `await`
to a function declared `throws` or `async` in those files (the generated
module's declarations count only for the files that import it).

No Swift toolchain runs on this machine, so this is the check that the
generated bindings, the hand-written layer and the XCTest files are at least
syntactically valid Swift, and that no call to the layer's own throwing or
async functions would be refused by the compiler for a missing `try` or
`await`. Usage: swift_parse.py PATH...
"""

import pathlib
import re
import sys

import tree_sitter
import tree_sitter_swift


# The generated bindings' file, and how a file imports their module.
GENERATED = "OutpostBindings.swift"
IMPORTS_GENERATED = re.compile(rb"^\s*(@_implementationOnly\s+)?import\s+OutpostBindings\s*$", re.M)

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


# ---- The try/await lint ----------------------------------------------------
#
# Without a type checker, a call is matched to declarations by its name and
# argument labels only: a call is flagged when EVERY declaration (function,
# protocol requirement or initializer) that could be the one called needs
# the marker, so an overload that does not need it silences the check rather
# than raise a false alarm.

DECLARATIONS = ("function_declaration", "protocol_function_declaration", "init_declaration", "enum_entry")
# A `try` or `await` outside these does not cover a call inside them.
SCOPES = ("lambda_literal", "function_body", "statements", "computed_property", "computed_getter")


class Declaration:
    def __init__(self, name, labels, required, effects):
        self.name = name
        self.labels = labels  # external labels, None for `_`; None for any (enum cases)
        self.required = required  # parameters without a default
        self.effects = effects  # subset of {"async", "throws"}

    def accepts(self, labels, trailing_closure):
        """Whether a call with these argument labels (None: unlabelled)
        could call this declaration."""
        if self.labels is None:
            return True  # an enum case: any labels
        count = len(labels) + (1 if trailing_closure else 0)
        if count < self.required or count > len(self.labels):
            return False
        # Labels in order, each matching a parameter; unmatched ones must default.
        i = 0
        for label in labels:
            while i < len(self.labels) and self.labels[i] != label:
                i += 1
            if i == len(self.labels):
                return False
            i += 1
        return True


def declared_name(node):
    if node.type == "init_declaration":
        owner = node.parent
        while owner is not None and owner.type not in ("class_declaration", "protocol_declaration"):
            owner = owner.parent
        if owner is None:
            return None
        name = next((c for c in owner.children if c.type in ("type_identifier", "user_type")), None)
        return name.text.decode() if name is not None else None
    name = next((c for c in node.children if c.type == "simple_identifier"), None)
    return name.text.decode() if name is not None else None


def declarations(tree):
    """Yields every function, requirement and initializer declared in `tree`."""
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.type not in DECLARATIONS:
            continue
        name = declared_name(node)
        if name is None:
            continue
        if node.type == "enum_entry":
            # `.save(id:rev:body:)` may build an enum case, which needs no marker.
            yield Declaration(name, None, 0, set())
            continue
        labels, required = [], 0
        children = node.children
        for i, child in enumerate(children):
            if child.type != "parameter":
                continue
            names = [c.text.decode() for c in child.children if c.type == "simple_identifier"]
            label = names[0] if names else None
            labels.append(None if label == "_" else label)
            has_default = i + 1 < len(children) and children[i + 1].type == "="
            required += 0 if has_default else 1
        # Declarations without effects are kept too: such an overload silences the check.
        # (`rethrows` parses as a `throws` node: it throws only what its argument does.)
        effects = {c.type for c in children if c.type in ("async", "throws") and c.text in (b"async", b"throws")}
        yield Declaration(name, labels, required, effects)


def callee_name(call):
    callee = call.children[0]
    if callee.type == "simple_identifier":
        return callee.text.decode()
    if callee.type in ("navigation_expression", "prefix_expression"):
        last = callee.children[-1]
        if last.type == "navigation_suffix":
            last = last.children[-1]
        if last.type == "simple_identifier":
            return last.text.decode()
    return None


def call_labels(call):
    """(labels of the parenthesised arguments, whether a trailing closure follows)."""
    suffix = next((c for c in call.children if c.type == "call_suffix"), None)
    if suffix is None:
        return None, False
    labels = []
    arguments = next((c for c in suffix.children if c.type == "value_arguments"), None)
    if arguments is not None:
        for argument in arguments.children:
            if argument.type != "value_argument":
                continue
            label = next((c for c in argument.children if c.type == "value_argument_label"), None)
            labels.append(label.text.decode() if label is not None else None)
    trailing = any(c.type in ("lambda_literal", "annotated_lambda") for c in suffix.children)
    return labels, trailing


def starts_with(node, kind):
    """Whether `node`'s leftmost descendant chain holds a `kind` node: tree-sitter
    binds `try a().b()` as `(try a()).b()`, where Swift's `try` covers both calls
    (and `try await a().b()` as `(try (await a())).b()`)."""
    while node is not None:
        if node.type == kind:
            return True
        if node.type in ("try_expression", "await_expression"):
            node = node.children[-1]
        else:
            node = node.children[0] if node.children else None
    return False


def covered(call, kind):
    """Whether a `kind` (try_expression or await_expression) covers `call`."""
    node = call
    while node is not None and node.type not in SCOPES:
        if starts_with(node, kind):
            return True
        node = node.parent
    return False


def missing_markers(tree, known):
    """Yields (line, column, message) for each call to a known function that
    lacks the `try` or `await` every candidate declaration needs."""
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.type != "call_expression":
            continue
        name = callee_name(node)
        if name not in known:
            continue
        labels, trailing = call_labels(node)
        if labels is None:
            continue
        # An enum case is built as `.name(...)` or `Type.name(...)`, never `value.name(...)`.
        callee = node.children[0]
        builds_case = callee.type == "prefix_expression" or (
            callee.type == "navigation_expression" and callee.children[0].text[:1].isupper()
        )
        candidates = [d for d in known[name] if d.accepts(labels, trailing) and (d.labels is not None or builds_case)]
        if not candidates:
            continue
        for effect, kind, marker in (("throws", "try_expression", "try"), ("async", "await_expression", "await")):
            if all(effect in d.effects for d in candidates) and not covered(node, kind):
                shown = name + "(" + "".join(f"{label or '_'}:" for label in labels) + ")"
                yield node.start_point[0] + 1, node.start_point[1] + 1, f"call to {effect} {shown} without `{marker}`"


SELF_TEST = b"""
public extension Collection {
    func save(_ id: String, body: String, rev: String? = nil) async throws -> String { "" }
}
public enum WriteOperation { case save(id: String, rev: String?, body: String) }
open class Collection { open func save(id: String, rev: String?, body: String) throws -> String { "" } }
open class Replicator { public convenience init(database: Database) throws {}
    open func run() async throws {}
    open func status() -> Int { 0 } }
func helper() async throws -> Int { 1 }
func withLock<T>(f: () throws -> T) rethrows -> T { try f() }
func fine(c: Collection, d: Database) async throws {
    _ = try c.save(id: "a", rev: nil, body: "{}")
    try await c.save("a", body: "{}")
    try await Replicator(database: d).run()
    XCTAssertEqual(try await helper(), 1)
    let ops: [WriteOperation] = [.save(id: "a", rev: nil, body: "{}"), WriteOperation.save(id: "b", rev: nil, body: "{}")]
    _ = withLock { 1 }
    _ = try Replicator(database: d).status()
}
func broken(c: Collection, d: Database) async throws {
    _ = c.save(id: "a", rev: nil, body: "{}")
    try c.save("a", body: "{}")
    let r = try Replicator(database: d); await r.run()
    XCTAssertEqual(await helper(), 1)
    let x = Config(value: await helper())
    try await run { try await helper(); helper() }
}
"""


def self_test(parser):
    """The lint flags exactly the calls of `broken` in SELF_TEST."""
    tree = parser.parse(SELF_TEST)
    known = {}
    for declaration in declarations(tree):
        known.setdefault(declaration.name, []).append(declaration)
    found = sorted((line, message) for line, _, message in missing_markers(tree, known))
    expected = [
        (22, "call to throws save(id:rev:body:) without `try`"),
        (23, "call to async save(_:body:) without `await`"),
        (24, "call to throws run() without `try`"),
        (25, "call to throws helper() without `try`"),
        (26, "call to throws helper() without `try`"),
        (27, "call to async helper() without `await`"),
        (27, "call to throws helper() without `try`"),
    ]
    if found != expected:
        print("try/await lint self-test failed: flagged", found, "expected", expected)
        return False
    print("ok try/await lint self-test")
    return True


def main(paths):
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))
    files = sorted(f for p in paths for f in ([pathlib.Path(p)] if p.endswith(".swift") else pathlib.Path(p).rglob("*.swift")))
    if not files:
        print("no Swift files found under", paths)
        return 1
    if not self_test(parser):
        return 1
    trees = {f: parser.parse(normalize(f.read_bytes())) for f in files}
    # The generated module is seen only by the files that import it (the public
    # layer): its synchronous functions share names with the layer's async ones,
    # so counting them for the tests and README would hide a missing `await`.
    public, generated = {}, {}
    for f, tree in trees.items():
        for declaration in declarations(tree):
            (generated if f.name == GENERATED else public).setdefault(declaration.name, []).append(declaration)
    everything = {name: public.get(name, []) + generated.get(name, []) for name in {*public, *generated}}
    failed = 0
    for f, tree in trees.items():
        sees_generated = f.name == GENERATED or IMPORTS_GENERATED.search(f.read_bytes())
        known = everything if sees_generated else public
        found = list(problems(tree)) or list(missing_markers(tree, known))
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

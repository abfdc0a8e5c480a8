// Queries: a builder for CouchDB Mango selectors (`Field("age") < 10 &&
// Field("camp") == "north"`) or raw JSON ones, value and full-text indexes,
// full-text search, and live queries as an AsyncStream of result lists. The
// request crosses the FFI as JSON text; results come back as documents.
@_implementationOnly import OutpostBindings
import Foundation

/// A JSON value in a selector: write literals (`10`, `"north"`, `true`, `nil`, `[1, 2]`).
public indirect enum JSONValue: Sendable, Equatable, ExpressibleByNilLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }

    /// As a JSONSerialization object.
    var foundation: Any {
        switch self {
        case .null: NSNull()
        case .bool(let b): b
        case .int(let i): i
        case .double(let d): d
        case .string(let s): s
        case .array(let a): a.map(\.foundation)
        case .object(let o): o.mapValues(\.foundation)
        }
    }
}

/// A condition on documents: build one with `Field` and its operators, combine with `&&`,
/// `||` and `!`.
public struct Selector: Sendable, Equatable {
    let json: [String: JSONValue]

    /// Every document.
    public static let all = Selector(json: [:])

    /// Documents whose text-indexed fields hold every word of `words` (`word*` for a prefix).
    public static func text(_ words: String) -> Selector { Selector(json: ["$text": .string(words)]) }

    /// All of `selectors`.
    public static func allOf(_ selectors: [Selector]) -> Selector { Selector(json: ["$and": .array(selectors.map { .object($0.json) })]) }

    /// Any of `selectors`.
    public static func anyOf(_ selectors: [Selector]) -> Selector { Selector(json: ["$or": .array(selectors.map { .object($0.json) })]) }
}

/// Both conditions.
public func && (lhs: Selector, rhs: Selector) -> Selector { .allOf([lhs, rhs]) }
/// Either condition.
public func || (lhs: Selector, rhs: Selector) -> Selector { .anyOf([lhs, rhs]) }
/// Not the condition (also matches documents missing its fields).
public prefix func ! (selector: Selector) -> Selector { Selector(json: ["$not": .object(selector.json)]) }

/// A field of the documents at a dotted path (`"family.mother.name"`), and the Mango operators on it.
public struct Field: Sendable {
    let path: String

    public init(_ path: String) { self.path = path }

    func op(_ name: String, _ value: JSONValue) -> Selector { Selector(json: [path: .object([name: value])]) }

    /// Present (`true`) or missing.
    public func exists(_ present: Bool = true) -> Selector { op("$exists", .bool(present)) }
    /// One of `values`.
    public func isIn(_ values: [JSONValue]) -> Selector { op("$in", .array(values)) }
    /// Present and none of `values`.
    public func notIn(_ values: [JSONValue]) -> Selector { op("$nin", .array(values)) }
    /// Of a JSON type: `null`, `boolean`, `number`, `string`, `array` or `object`.
    public func isType(_ type: String) -> Selector { op("$type", .string(type)) }
    /// A string matching `pattern` (Rust regex syntax; linear time).
    public func matches(_ pattern: String) -> Selector { op("$regex", .string(pattern)) }
    /// An array of `size` elements.
    public func hasSize(_ size: Int) -> Selector { op("$size", .int(Int64(size))) }
    /// An array holding every one of `values`.
    public func containsAll(_ values: [JSONValue]) -> Selector { op("$all", .array(values)) }
    /// An array with an element for which `element` holds (in it, `Field("x")` is the element's field).
    public func elemMatch(_ element: Selector) -> Selector { op("$elemMatch", .object(element.json)) }
}

public func == (lhs: Field, rhs: JSONValue) -> Selector { lhs.op("$eq", rhs) }
public func != (lhs: Field, rhs: JSONValue) -> Selector { lhs.op("$ne", rhs) }
public func < (lhs: Field, rhs: JSONValue) -> Selector { lhs.op("$lt", rhs) }
public func <= (lhs: Field, rhs: JSONValue) -> Selector { lhs.op("$lte", rhs) }
public func > (lhs: Field, rhs: JSONValue) -> Selector { lhs.op("$gt", rhs) }
public func >= (lhs: Field, rhs: JSONValue) -> Selector { lhs.op("$gte", rhs) }

/// A query: a `Selector`, then an order, a page and the fields to return.
///
/// ```swift
/// let q = Query.where(Field("camp") == "north" && Field("age") < 10).order(by: "age").limit(20)
/// let found = try await children.find(q)
/// ```
public struct Query: Sendable {
    private let base: [String: JSONValue]
    private var sort: [(String, Bool)] = []
    private var limitValue: Int?
    private var skipValue: Int?
    private var fieldList: [String]?

    private init(base: [String: JSONValue]) { self.base = base }

    /// The documents `selector` matches (at most 25 unless `limit(_:)` says otherwise).
    public static func `where`(_ selector: Selector) -> Query { Query(base: ["selector": .object(selector.json)]) }

    /// A query written as Mango JSON text: a selector, or a whole request with `"selector"`.
    /// The text is checked when the query runs.
    public static func raw(_ json: String) -> Query { Query(base: ["raw": .string(json)]) }

    /// Then sorted by `path` (CouchDB collation; missing values first ascending).
    public func order(by path: String, descending: Bool = false) -> Query {
        var q = self; q.sort.append((path, descending)); return q
    }

    /// At most `n` documents.
    public func limit(_ n: Int) -> Query { var q = self; q.limitValue = n; return q }

    /// Skips the first `n` documents.
    public func skip(_ n: Int) -> Query { var q = self; q.skipValue = n; return q }

    /// Returns only these fields of each body (the id and revision always come).
    public func fields(_ paths: String...) -> Query { var q = self; q.fieldList = paths; return q }

    /// The Mango request this query sends (JSON text).
    public func json() throws -> String {
        var request: [String: Any]
        if case .string(let raw)? = base["raw"] {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(raw.utf8))) as? [String: Any] else {
                throw OutpostError.invalidInput("a query must be a JSON object")
            }
            request = object["selector"] is [String: Any] ? object : ["selector": object]
        } else {
            request = base.mapValues(\.foundation)
        }
        if !sort.isEmpty { request["sort"] = sort.map { [$0.0: $0.1 ? "desc" : "asc"] } }
        if let limitValue { request["limit"] = limitValue }
        if let skipValue { request["skip"] = skipValue }
        if let fieldList { request["fields"] = fieldList }
        let data = try JSONSerialization.data(withJSONObject: request, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}

/// Whether an index is a value index or a full-text one.
public enum IndexKind: Sendable, Equatable { case value, text }

/// An index of a collection.
public struct IndexInfo: Sendable, Equatable {
    public let name: String
    public let kind: IndexKind
    public let fields: [String]
}

/// A full-text search result; a lower `score` is a better match (BM25).
public struct SearchHit: Sendable, Equatable {
    public let document: Document
    public let score: Double
}

public extension Collection {
    /// The live documents `query` matches, in its order.
    func find(_ query: Query) async throws -> [Document] {
        let json = try query.json()
        return try await detached { try self.ffi.find(queryJson: json).map(Document.init) }
    }

    /// `find(_:)`, each body decoded as `Value`.
    func find<Value: Decodable>(_ query: Query, as type: Value.Type) async throws -> [TypedDocument<Value>] {
        try await find(query).map {
            TypedDocument(id: $0.id, rev: $0.rev, value: try decodeJSON($0.json, of: $0.id), conflicts: $0.conflicts, sequence: $0.sequence)
        }
    }

    /// How many live documents `query`'s selector matches (its limit and skip aside).
    func count(_ query: Query) async throws -> Int {
        let json = try query.json()
        return try await detached { Int(try self.ffi.countMatching(queryJson: json)) }
    }

    /// The value index `query` reads (nil: a scan of the collection).
    func explain(_ query: Query) async throws -> String? {
        let json = try query.json()
        return try await detached { try self.ffi.explain(queryJson: json).index }
    }

    /// Creates a value index on `fields` (dotted paths); creating it again does nothing. Local: never replicated.
    func createIndex(_ name: String, fields: [String]) async throws {
        try await detached { try self.ffi.createIndex(name: name, fields: fields) }
    }

    /// Creates a full-text index on `fields` (case and diacritics ignored), for `search` and `Selector.text`.
    func createTextIndex(_ name: String, fields: [String]) async throws {
        try await detached { try self.ffi.createTextIndex(name: name, fields: fields) }
    }

    /// The collection's indexes, by name.
    func indexes() async throws -> [IndexInfo] {
        try await detached {
            try self.ffi.indexes().map { IndexInfo(name: $0.name, kind: $0.kind == .text ? .text : .value, fields: $0.fields) }
        }
    }

    /// Deletes the index `name`; whether there was one.
    @discardableResult
    func deleteIndex(_ name: String) async throws -> Bool {
        try await detached { try self.ffi.deleteIndex(name: name) }
    }

    /// Full-text search: documents holding every word of `words` (`word*` for a prefix), best first.
    func search(_ words: String, limit: Int = 25) async throws -> [SearchHit] {
        guard limit >= 0 else { throw OutpostError.invalidInput("limit must not be negative") }
        return try await detached {
            try self.ffi.search(text: words, limit: UInt32(clamping: limit)).map { SearchHit(document: Document($0.document), score: $0.score) }
        }
    }

    /// The results of `query` now, then again each time a change (local or replicated) alters
    /// them, while iterated.
    ///
    /// ```swift
    /// for await children in try collection.liveQuery(.where(Field("camp") == "north")) { show(children) }
    /// ```
    func liveQuery(_ query: Query) throws -> AsyncStream<[Document]> {
        let json = try query.json()
        let (stream, continuation) = AsyncStream<[Document]>.makeStream(bufferingPolicy: .bufferingNewest(16))
        let handle = try rethrowing {
            try ffi.liveQuery(queryJson: json, listener: ClosureLiveQueryListener { continuation.yield($0) })
        }
        continuation.onTermination = { _ in handle.cancel() }
        return stream
    }
}

final class ClosureLiveQueryListener: LiveQueryListener, @unchecked Sendable {
    private let block: @Sendable ([Document]) -> Void
    init(_ block: @escaping @Sendable ([Document]) -> Void) { self.block = block }
    func onResults(documents: [OutpostBindings.Document]) throws { block(documents.map(Document.init)) }
}

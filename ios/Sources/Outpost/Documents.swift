// Typed documents over the JSON bodies that cross the FFI: Codable values, and
// `update`, which reads, changes and saves a document, retrying when another
// writer got there first.
@_implementationOnly import OutpostBindings
import Foundation

/// A live document read as `Value`: its winning revision and its body decoded.
public struct TypedDocument<Value> {
    public let id: String
    /// Winning revision id; pass it to the next save.
    public let rev: String
    /// The body, decoded.
    public let value: Value
    /// Revision ids of the losing live leaves, if the document is in conflict.
    public let conflicts: [String]
    /// Database sequence of the document's latest change.
    public let sequence: Int64
}

extension TypedDocument: Sendable where Value: Sendable {}
extension TypedDocument: Equatable where Value: Equatable {}

func decodeJSON<Value: Decodable>(_ json: String, of what: String, with decoder: JSONDecoder = JSONDecoder()) throws -> Value {
    do {
        return try decoder.decode(Value.self, from: Data(json.utf8))
    } catch let error as OutpostError {
        throw error
    } catch {
        throw OutpostError.invalidInput("\(what) does not decode as \(Value.self): \(error)")
    }
}

func encodeJSON<Value: Encodable>(_ value: Value, with encoder: JSONEncoder = JSONEncoder()) throws -> String {
    do {
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    } catch let error as OutpostError {
        throw error
    } catch {
        throw OutpostError.invalidInput("\(Value.self) does not encode to JSON: \(error)")
    }
}

public extension Collection {
    /// Saves `value` (encoded to a JSON object) as the document `id` over `rev` (nil to
    /// create); returns the new revision. The bytes of the `Blob`s in it are stored first.
    ///
    /// ```swift
    /// struct Child: Codable { var name: String; var age: Int }
    /// let rev = try await children.save("child-1", Child(name: "Amina", age: 7))
    /// ```
    @discardableResult
    func save<Value: Encodable>(_ id: String, _ value: Value, rev: String? = nil) async throws -> String {
        try await save(id, json: try await encodeDocument(value, for: ffi), rev: rev)
    }

    /// The live document `id` decoded as `Value`, or nil if there is none or it is deleted.
    func document<Value: Decodable>(_ id: String, as type: Value.Type) async throws -> TypedDocument<Value>? {
        guard let doc = try await document(id), !doc.deleted else { return nil }
        return TypedDocument(id: doc.id, rev: doc.rev, value: try decodeDocument(doc.json, of: doc.rev, from: ffi),
                             conflicts: doc.conflicts, sequence: doc.sequence)
    }

    /// Reads the document `id`, saves `change(current)` over it (current is nil if there is
    /// none or it is deleted), and returns the new revision. If another writer saved in
    /// between, it reads again and calls `change` again, up to `maxAttempts` times in all:
    /// `change` must be free of side effects. Throws `OutpostError.conflict` if every
    /// attempt lost the race.
    ///
    /// ```swift
    /// try await children.update("child-1", as: Child.self) { child in
    ///     var child = child!; child.age += 1; return child
    /// }
    /// ```
    @discardableResult
    func update<Value: Codable>(
        _ id: String, as type: Value.Type, maxAttempts: Int = 10, _ change: (Value?) throws -> Value
    ) async throws -> String {
        precondition(maxAttempts >= 1, "maxAttempts must be at least 1")
        var attempt = 1
        while true {
            let doc = try await document(id)
            let current = doc.flatMap { $0.deleted ? nil : $0 }
            let decoded: Value? = try current.map { try decodeDocument($0.json, of: $0.rev, from: ffi) }
            let next = try change(decoded)
            do {
                return try await save(id, next, rev: doc?.rev)
            } catch OutpostError.conflict(let message) {
                if attempt >= maxAttempts { throw OutpostError.conflict(message) }
                attempt += 1
            }
        }
    }
}

// Blobs (photos, recordings, files) as Couchbase Lite has them: a Blob made
// from Data or a file URL is a value of a Codable document and is stored when
// the document is saved. Bytes cross the FFI in chunks both ways, so no blob
// is ever whole in memory unless the app asks for its `data()`.
@_implementationOnly import OutpostBindings
import Foundation

/// Bytes per chunk crossing the FFI.
let blobChunkBytes = 64 * 1024

/// A blob: binary content (a photo, a recording) held in a document by reference, stored once
/// per database however many documents name it, and synced with them.
///
/// Make one from `Data` or a file URL and put it in a Codable document; saving the document
/// (`Collection.save(_:_:rev:)`) stores its bytes, streamed, and the blob then has a `digest`.
/// Blobs read from a document (`Collection.document(_:as:)`, `Collection.blobs(_:)`) read their
/// bytes from the database: `chunks()` streams them, `data()` loads them whole.
///
/// ```swift
/// struct Child: Codable { var name: String; var photo: Blob? }
/// try await children.save("child-1", Child(name: "Amina", photo: Blob(contentType: "image/jpeg", fileURL: url)))
/// let photo = try await children.document("child-1", as: Child.self)!.value.photo!
/// for try await chunk in photo.chunks() { output.write(chunk) }
/// ```
///
/// Two stored blobs are equal when their digests are.
public final class Blob: Codable, Hashable, CustomStringConvertible, @unchecked Sendable {
    private enum Source {
        case data(Data)
        case file(URL)
    }

    struct Ref: Equatable {
        let digest: String
        let length: Int64
    }

    /// MIME type, if given (`image/jpeg`).
    public let contentType: String?
    private let lock = NSLock()
    private var source: Source?
    private var ref: Ref?
    /// The collection it was stored in or read from, which its bytes are read through.
    private var home: OutpostBindings.Collection?

    /// A blob of `data`.
    public init(contentType: String?, data: Data) {
        self.contentType = contentType
        self.source = .data(data)
    }

    /// A blob of the file at `fileURL`, read (streamed) when the blob is stored.
    public init(contentType: String?, fileURL: URL) {
        self.contentType = contentType
        self.source = .file(fileURL)
    }

    init(_ ref: OutpostBindings.BlobRef, in collection: OutpostBindings.Collection?) {
        self.contentType = ref.contentType
        self.ref = Ref(digest: ref.digest, length: Int64(ref.length))
        self.home = collection
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// `sha256-` and the SHA-256 of the bytes in base64; nil until the blob is stored.
    public var digest: String? { locked { ref?.digest } }

    /// Length in bytes; nil for a file not stored yet.
    public var length: Int64? {
        locked {
            if let ref { return ref.length }
            if case .data(let data) = source { return Int64(data.count) }
            return nil
        }
    }

    /// Whether the bytes are in a database (the blob was saved, or read from a document).
    public var isStored: Bool { locked { ref != nil } }

    /// The bytes, loaded whole: for small blobs; stream large ones with `chunks()`.
    public func data() async throws -> Data {
        var all = Data()
        for try await chunk in chunks() { all.append(chunk) }
        return all
    }

    /// The bytes in chunks of at most 64 KiB, each read when asked for (never whole in
    /// memory): from the database for a stored blob, else from what it was made of. Throws
    /// `OutpostError.notFound` if the blob is not in the database it was read from.
    public func chunks() -> AsyncThrowingStream<Data, Error> {
        var reader: ChunkSource?
        return AsyncThrowingStream(unfolding: { [self] in
            if reader == nil { reader = try self.openChunks() }
            let source = reader!
            return try await detached { try source.next() }
        })
    }

    /// Where the bytes are read from, chunk by chunk.
    private func openChunks() throws -> ChunkSource {
        let (home, ref, source) = locked { (self.home, self.ref, self.source) }
        if let home, let ref {
            return StoredChunks(try rethrowing { try home.openBlob(digest: ref.digest) })
        }
        switch source {
        case .data(let data): return DataChunks(data)
        case .file(let url): return FileChunks(try FileHandle(forReadingFrom: url))
        case nil:
            throw OutpostError.invalidInput(
                "this blob was decoded outside its collection; read it through Collection.document(_:as:) or Collection.blobs(_:)")
        }
    }

    /// Stores the bytes in `collection`'s database if they are not there (blocking).
    func store(in collection: OutpostBindings.Collection) throws {
        if let ref = locked({ self.ref }), (try? collection.openBlob(digest: ref.digest)) != nil { return }
        let chunks = try openChunks()
        let writer = try rethrowing { try collection.blobWriter(contentType: contentType) }
        while let chunk = try chunks.next() {
            try rethrowing { try writer.write(chunk: chunk) }
        }
        let saved = try rethrowing { try writer.finish() }
        try locked {
            if let ref, ref.digest != saved.digest {
                throw OutpostError.corrupt("blob \(ref.digest) read back as \(saved.digest)")
            }
            ref = Ref(digest: saved.digest, length: Int64(saved.length))
            home = collection
            source = nil
        }
    }

    private enum CodingKeys: String, CodingKey {
        case type = "@type", digest, length, contentType = "content_type"
    }

    /// Decodes the in-body blob object, readable when decoded by `Collection.document(_:as:)`.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard try c.decode(String.self, forKey: .type) == "blob" else {
            throw DecodingError.dataCorruptedError(forKey: .type, in: c, debugDescription: "not a blob object")
        }
        contentType = try c.decodeIfPresent(String.self, forKey: .contentType)
        ref = Ref(digest: try c.decode(String.self, forKey: .digest), length: try c.decode(Int64.self, forKey: .length))
        home = (decoder.userInfo[blobContextKey] as? BlobContext)?.collection
    }

    /// Encodes the in-body blob object (`{"@type":"blob","digest":…}`); only inside
    /// `Collection.save`, which stores the bytes first.
    public func encode(to encoder: Encoder) throws {
        guard let context = encoder.userInfo[blobContextKey] as? BlobContext else {
            throw OutpostError.invalidInput("a Blob is encoded only when its document is saved (Collection.save)")
        }
        let (ref, home) = locked { (self.ref, self.home) }
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode("blob", forKey: .type)
        try c.encodeIfPresent(contentType, forKey: .contentType)
        guard let ref, home === context.collection || context.stored.contains(ObjectIdentifier(self)) else {
            // First pass: note the blob; the save stores it and encodes again.
            context.pending.append(self)
            return
        }
        try c.encode(ref.digest, forKey: .digest)
        try c.encode(ref.length, forKey: .length)
    }

    public static func == (a: Blob, b: Blob) -> Bool {
        guard let digest = a.digest else { return a === b }
        return digest == b.digest
    }

    public func hash(into hasher: inout Hasher) {
        if let digest { hasher.combine(digest) } else { hasher.combine(ObjectIdentifier(self)) }
    }

    public var description: String {
        "Blob(\(contentType ?? "no content type"), \(length.map { "\($0)" } ?? "?") bytes, \(digest ?? "not stored"))"
    }
}

let blobContextKey = CodingUserInfoKey(rawValue: "org.outpost.blobContext")!

/// The collection a document is encoded for or decoded from, and the blobs a first encoding
/// pass found to store.
final class BlobContext: @unchecked Sendable {
    let collection: OutpostBindings.Collection
    var pending: [Blob] = []
    var stored: Set<ObjectIdentifier> = []

    init(_ collection: OutpostBindings.Collection) { self.collection = collection }
}

/// A blob's bytes, chunk by chunk; nil at the end.
private protocol ChunkSource: AnyObject, Sendable {
    func next() throws -> Data?
}

private final class StoredChunks: ChunkSource, @unchecked Sendable {
    private let reader: OutpostBindings.BlobReader
    private var offset: UInt64 = 0

    init(_ reader: OutpostBindings.BlobReader) { self.reader = reader }

    func next() throws -> Data? {
        let chunk = try rethrowing { try reader.read(offset: offset, max: UInt32(blobChunkBytes)) }
        offset += UInt64(chunk.count)
        return chunk.isEmpty ? nil : chunk
    }
}

private final class DataChunks: ChunkSource, @unchecked Sendable {
    private let data: Data
    private var offset = 0

    init(_ data: Data) { self.data = data }

    func next() throws -> Data? {
        guard offset < data.count else { return nil }
        let end = min(offset + blobChunkBytes, data.count)
        defer { offset = end }
        return data.subdata(in: data.startIndex + offset..<data.startIndex + end)
    }
}

private final class FileChunks: ChunkSource, @unchecked Sendable {
    private let handle: FileHandle

    init(_ handle: FileHandle) { self.handle = handle }

    deinit { try? handle.close() }

    func next() throws -> Data? {
        guard let chunk = try handle.read(upToCount: blobChunkBytes), !chunk.isEmpty else { return nil }
        return chunk
    }
}

/// `value` as a JSON body for `collection`, its blobs stored first (streamed, off the caller's
/// task): one pass finds the blobs not stored there, the next encodes their references.
func encodeDocument<Value: Encodable>(_ value: Value, for collection: OutpostBindings.Collection) async throws -> String {
    let context = BlobContext(collection)
    let encoder = JSONEncoder()
    encoder.userInfo[blobContextKey] = context
    let first = try encodeJSON(value, with: encoder)
    if context.pending.isEmpty { return first }
    let pending = context.pending
    context.pending = []
    for blob in pending {
        try await detached { try blob.store(in: collection) }
        context.stored.insert(ObjectIdentifier(blob))
    }
    return try encodeJSON(value, with: encoder)
}

/// `json` decoded as `Value`, its blobs readable from `collection`.
func decodeDocument<Value: Decodable>(_ json: String, of what: String, from collection: OutpostBindings.Collection) throws -> Value {
    let decoder = JSONDecoder()
    decoder.userInfo[blobContextKey] = BlobContext(collection)
    return try decodeJSON(json, of: what, with: decoder)
}

public extension Collection {
    /// The blobs the live document `id` names (empty if there is none or it is deleted), by
    /// name: a top-level field's name, or a JSON pointer (`/photos/0`) for a nested one.
    func blobs(_ id: String) async throws -> [String: Blob] {
        try await detached {
            let named = try self.ffi.blobs(id: id)
            return Dictionary(uniqueKeysWithValues: named.map { ($0.name, Blob($0.blob, in: self.ffi)) })
        }
    }
}

// The public error type, the translation from the generated module
// (OutpostBindings, not exported), and where callbacks run.
@_implementationOnly import OutpostBindings
import Foundation

/// Every failure of Outpost, matched by case:
///
/// ```swift
/// do { try await children.save("child-1", child, rev: rev) } catch OutpostError.conflict { /* read again */ }
/// ```
public enum OutpostError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Bad arguments or configuration.
    case invalidInput(String)
    /// No such document or revision.
    case notFound(String)
    /// The revision given is not the current one: read again and retry (see `update`).
    case conflict(String)
    /// No such collection.
    case collectionNotFound(String)
    /// The database was closed.
    case closed(String)
    /// The peer refused the credentials.
    case auth(String)
    /// TLS failed (an untrusted or changed certificate).
    case tls(String)
    /// The network failed (retried by replicators).
    case network(String)
    /// The peer misbehaved.
    case peer(String)
    /// The peer is read-only.
    case readOnly(String)
    /// The peer does not serve that collection.
    case notServed(String)
    /// The peer speaks an incompatible protocol version.
    case protocolMismatch(String)
    /// The platform key store failed.
    case keyStore(String)
    /// The database is encrypted and does not open with this key or passphrase (or none was given).
    case wrongKey(String)
    /// Stopped before finishing.
    case stopped(String)
    /// The file could not be read or written.
    case storage(String)
    /// The file is damaged or from a newer Outpost.
    case corrupt(String)
    /// A bug in Outpost.
    case `internal`(String)

    /// What happened and what to do.
    public var message: String {
        switch self {
        case .invalidInput(let m), .notFound(let m), .conflict(let m), .collectionNotFound(let m), .closed(let m),
             .auth(let m), .tls(let m), .network(let m), .peer(let m), .readOnly(let m), .notServed(let m),
             .protocolMismatch(let m), .keyStore(let m), .wrongKey(let m), .stopped(let m), .storage(let m), .corrupt(let m),
             .internal(let m):
            return m
        }
    }

    public var description: String { message }

    init(_ error: OutpostBindings.OutpostError) {
        switch error {
        case .InvalidInput(let m): self = .invalidInput(m)
        case .NotFound(let m): self = .notFound(m)
        case .Conflict(let m): self = .conflict(m)
        case .CollectionNotFound(let m): self = .collectionNotFound(m)
        case .Closed(let m): self = .closed(m)
        case .Auth(let m): self = .auth(m)
        case .Tls(let m): self = .tls(m)
        case .Network(let m): self = .network(m)
        case .Peer(let m): self = .peer(m)
        case .ReadOnly(let m): self = .readOnly(m)
        case .NotServed(let m): self = .notServed(m)
        case .ProtocolMismatch(let m): self = .protocolMismatch(m)
        case .KeyStore(let m): self = .keyStore(m)
        case .WrongKey(let m): self = .wrongKey(m)
        case .Stopped(let m): self = .stopped(m)
        case .Storage(let m): self = .storage(m)
        case .Corrupt(let m): self = .corrupt(m)
        case .Internal(let m): self = .internal(m)
        }
    }

    init(_ failure: Failure) {
        let m = failure.message
        switch failure.kind {
        case .invalidInput: self = .invalidInput(m)
        case .notFound: self = .notFound(m)
        case .conflict: self = .conflict(m)
        case .collectionNotFound: self = .collectionNotFound(m)
        case .closed: self = .closed(m)
        case .auth: self = .auth(m)
        case .tls: self = .tls(m)
        case .network: self = .network(m)
        case .peer: self = .peer(m)
        case .readOnly: self = .readOnly(m)
        case .notServed: self = .notServed(m)
        case .protocolMismatch: self = .protocolMismatch(m)
        case .keyStore: self = .keyStore(m)
        case .wrongKey: self = .wrongKey(m)
        case .stopped: self = .stopped(m)
        case .storage: self = .storage(m)
        case .corrupt: self = .corrupt(m)
        case .internal: self = .internal(m)
        }
    }
}

/// Runs a call of the generated module, turning its errors into `OutpostError`.
func rethrowing<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as OutpostBindings.OutpostError {
        throw OutpostError(error)
    }
}

/// Runs an async call of the generated module, turning its errors into `OutpostError`.
func rethrowingAsync<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as OutpostBindings.OutpostError {
        throw OutpostError(error)
    }
}

/// Runs a blocking call of the generated module off the caller's actor.
func detached<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await Task.detached { try rethrowing(body) }.value
}

/// Where Outpost calls the app back.
public enum OutpostSettings {
    private static let state = QueueState()

    /// The queue listener callbacks (`addChangeListener` and friends) run on unless one is
    /// given its own: the main queue by default, like Couchbase Lite. Use a serial queue:
    /// callbacks are queued in order. Streams deliver to their consumer's task instead.
    public static var callbackQueue: DispatchQueue {
        get { state.get() }
        set { state.set(newValue) }
    }
}

private final class QueueState: @unchecked Sendable {
    private let lock = NSLock()
    private var queue: DispatchQueue = .main
    func get() -> DispatchQueue { lock.lock(); defer { lock.unlock() }; return queue }
    func set(_ newValue: DispatchQueue) { lock.lock(); queue = newValue; lock.unlock() }
}

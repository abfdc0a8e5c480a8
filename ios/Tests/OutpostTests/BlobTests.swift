// Blobs through the public Swift API (mirrors tests/kotlin BlobTest): made from
// Data and files, held by Codable documents, streamed back in chunks, synced
// over a TLS listener on loopback, and a reference to missing bytes refused.
import CryptoKit
import Foundation
import XCTest
import Outpost

struct Registration: Codable {
    var name: String
    var photo: Blob?
}

final class BlobTests: XCTestCase {
    private let fiveMb = Data((0..<(5 * 1024 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) })

    func testADocumentWithAFiveMegabyteBlobSyncsOverATlsListenerByteForByte() async throws {
        let (phone, hub) = try await openPhoneAndHub(self)
        let children = try await phone.defaultCollection()
        let photo = Blob(contentType: "image/jpeg", data: fiveMb)
        XCTAssertFalse(photo.isStored)
        let rev = try await children.save("child-1", Registration(name: "Amina", photo: photo))
        XCTAssertTrue(photo.isStored)
        XCTAssertEqual(photo.length, Int64(fiveMb.count))

        var config = ListenerConfig(authenticator: try await .users(["worker": "correct horse"]))
        config.networkInterface = "127.0.0.1"
        let listener = try await Listener.start(database: hub, config: config)
        let replicator = try phone.replicator(to: .url(listener.urls[0])) {
            $0.authentication = .basic(username: "worker", password: "correct horse")
            $0.serverTrust = .pinnedFingerprint(listener.fingerprint!)
        }
        try await withTimeout { try await replicator.run() }
        XCTAssertNil(replicator.status.error)
        await listener.stop()

        let copy = try await hub.defaultCollection().document("child-1", as: Registration.self)
        XCTAssertEqual(copy?.rev, rev)
        let copied = try XCTUnwrap(copy?.value.photo)
        XCTAssertEqual(copied, photo)
        XCTAssertEqual(copied.contentType, "image/jpeg")
        let bytes = try await copied.data()
        XCTAssertEqual(bytes, fiveMb)
        let listed = try await hub.defaultCollection().blobs("child-1")
        XCTAssertEqual(listed, ["photo": copied])
    }

    func testAStoredBlobStreamsInSmallChunks() async throws {
        let dir = try temporaryDirectory(self)
        let db = try await openDb(dir, "phone.db")
        let docs = try await db.defaultCollection()
        let file = dir.appendingPathComponent("recording.ogg")
        try fiveMb.write(to: file)
        try await docs.save("child-1", Registration(name: "Amina", photo: Blob(contentType: "audio/ogg", fileURL: file)))
        let listed = try await docs.blobs("child-1")
        let blob = try XCTUnwrap(listed["photo"])
        var sha = SHA256()
        var total = 0
        var largest = 0
        for try await chunk in blob.chunks() {
            sha.update(data: chunk)
            total += chunk.count
            largest = max(largest, chunk.count)
        }
        XCTAssertEqual(total, fiveMb.count)
        XCTAssertLessThanOrEqual(largest, 64 * 1024)
        XCTAssertEqual(blob.digest, "sha256-" + Data(sha.finalize()).base64EncodedString())
        XCTAssertEqual(blob.digest, "sha256-" + Data(SHA256.hash(data: fiveMb)).base64EncodedString())
    }

    func testAReferenceToMissingBytesIsRefusedWithATypedError() async throws {
        let dir = try temporaryDirectory(self)
        let db = try await openDb(dir, "phone.db")
        let docs = try await db.defaultCollection()
        let missing = "sha256-" + Data(count: 32).base64EncodedString()
        do {
            try await docs.save("child-1", json: #"{"photo":{"@type":"blob","digest":"\#(missing)","length":3}}"#)
            XCTFail("a reference to a blob not stored was saved")
        } catch OutpostError.notFound {}
        let saved = try await docs.document("child-1")
        XCTAssertNil(saved)
        // A blob encoded outside a save is not silently left unstored.
        XCTAssertThrowsError(try JSONEncoder().encode(Registration(name: "A", photo: Blob(contentType: nil, data: Data([1])))))
    }
}

// Blobs through the Kotlin API: made from bytes, streams and files, held by
// typed documents and maps, streamed back in chunks, synced over a TLS
// listener on loopback, and a reference to missing bytes refused.
package org.outpost

import kotlinx.serialization.Serializable
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.ByteArrayInputStream
import java.io.InputStream
import java.nio.file.Path
import java.security.MessageDigest
import java.util.Base64
import kotlin.random.Random
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

@Serializable
data class Registration(val name: String, val photo: Blob? = null)

class BlobTest {
    @TempDir
    lateinit var dir: Path

    private val fiveMb: ByteArray = Random(11).nextBytes(5 * 1024 * 1024)

    @Test
    fun aDocumentWithAFiveMegabyteBlobSyncsOverATlsListenerByteForByte() = withPhoneAndHub(dir) { phone, hub ->
        val children = phone.defaultCollection()
        val photo = Blob("image/jpeg", fiveMb)
        assertFalse(photo.isStored)
        val rev = children.save("child-1", Registration("Amina", photo))
        assertTrue(photo.isStored)
        assertEquals(fiveMb.size.toLong(), photo.length)

        val listener = Listener.start(
            hub,
            ListenerConfig(ListenerAuthenticator.users("worker" to "correct horse"), networkInterface = "127.0.0.1"),
        )
        try {
            val replicator = phone.replicator(UrlEndpoint(listener.urls.first())) {
                basicAuth("worker", "correct horse")
                pinFingerprint(listener.fingerprint!!)
            }
            replicator.run()
            assertNull(replicator.status.error)
        } finally {
            listener.stop()
        }

        val copy = hub.defaultCollection().get<Registration>("child-1")
        assertNotNull(copy)
        assertEquals(rev, copy.rev)
        assertEquals("Amina", copy.value.name)
        val copied = copy.value.photo!!
        assertEquals(photo, copied)
        assertEquals("image/jpeg", copied.contentType)
        assertContentEquals(fiveMb, copied.bytes())
        assertEquals(mapOf("photo" to copied), hub.defaultCollection().blobs("child-1"))
    }

    @Test
    fun aStoredBlobStreamsThroughASmallBufferInChunks() = withPhone { docs ->
        val source = CountingStream(ByteArrayInputStream(fiveMb))
        docs.save("child-1", mapOf("name" to "Amina", "recording" to Blob("audio/ogg", source)))
        assertTrue(source.largestRead <= BLOB_CHUNK_BYTES, "read the source ${source.largestRead} bytes at a time")
        val blob = docs.blobs("child-1").getValue("recording")
        assertEquals(fiveMb.size.toLong(), blob.length)

        val sha = MessageDigest.getInstance("SHA-256")
        var total = 0L
        var mostBuffered = 0
        io {
            blob.openStream().use { input ->
                val buffer = ByteArray(4096)
                while (true) {
                    val n = input.read(buffer)
                    if (n < 0) break
                    mostBuffered = maxOf(mostBuffered, input.available())
                    sha.update(buffer, 0, n)
                    total += n
                }
            }
        }
        assertEquals(fiveMb.size.toLong(), total)
        assertTrue(mostBuffered < BLOB_CHUNK_BYTES, "held $mostBuffered bytes at once")
        assertEquals("sha256-" + Base64.getEncoder().encodeToString(sha.digest()), blob.digest)
        assertEquals("sha256-" + Base64.getEncoder().encodeToString(MessageDigest.getInstance("SHA-256").digest(fiveMb)), blob.digest)
    }

    @Test
    fun blobsFromFilesAndMapsAreStoredOnceAndListedByName() = withPhone { docs ->
        val file = dir.resolve("amina.jpg").toFile()
        file.writeBytes(byteArrayOf(1, 2, 3, 4))
        val fromFile = Blob("image/jpeg", file)
        assertNull(fromFile.length)
        docs.save("child-1", mapOf("photo" to fromFile, "notes" to listOf(mapOf("scan" to Blob(null, byteArrayOf(9))))))
        assertEquals(4L, fromFile.length)
        // The same bytes from another source are the same blob.
        val again = Blob("image/jpeg", ByteArrayInputStream(byteArrayOf(1, 2, 3, 4)))
        docs.save("child-2", mapOf("photo" to again))
        assertEquals(fromFile, again)
        assertEquals(fromFile.digest, again.digest)
        val listed = docs.blobs("child-1")
        assertEquals(setOf("photo", "/notes/0/scan"), listed.keys)
        assertContentEquals(byteArrayOf(1, 2, 3, 4), listed.getValue("photo").bytes())
        assertContentEquals(byteArrayOf(9), listed.getValue("/notes/0/scan").bytes())
        assertEquals(emptyMap(), docs.blobs("nobody"))
        // A blob stored in one database is copied into another when saved there.
        val other = openDb(dir, "other.db")
        try {
            other.defaultCollection().save("child-1", Registration("Amina", listed.getValue("photo")))
            val copied = other.defaultCollection().get<Registration>("child-1")!!.value.photo!!
            assertContentEquals(byteArrayOf(1, 2, 3, 4), copied.bytes())
        } finally {
            other.close()
        }
    }

    @Test
    fun aReferenceToMissingBytesIsRefusedWithATypedErrorAndNothingIsSaved() = withPhone { docs ->
        val missing = "sha256-" + Base64.getEncoder().encodeToString(ByteArray(32))
        val body = """{"photo":{"@type":"blob","digest":"$missing","length":3}}"""
        assertFailsWith<OutpostException.NotFound> { docs.saveJson("child-1", body) }
        assertNull(docs.getDocument("child-1"))
        assertFailsWith<OutpostException.InvalidInput> {
            docs.saveJson("child-1", """{"photo":{"@type":"blob","digest":"sha256-nope","length":3}}""")
        }
        // A blob encoded outside a save is not silently left unstored.
        assertFailsWith<OutpostException.InvalidInput> { outpostJson.encodeToString(Registration.serializer(), Registration("A", Blob(null, byteArrayOf(1)))) }
        // A stream is read once.
        val once = Blob(null, ByteArrayInputStream(byteArrayOf(5)))
        docs.save("child-2", mapOf("a" to once))
        assertContentEquals(byteArrayOf(5), once.bytes())
        val unsaved = Blob(null, ByteArrayInputStream(byteArrayOf(6)))
        unsaved.openStream().close()
        assertFailsWith<IllegalStateException> { docs.save("child-3", mapOf("a" to unsaved)) }
        assertNull(docs.getDocument("child-3"))
    }
}

/** Runs [block] (timed) with [dir]/phone.db's default collection, closing the database after. */
private fun BlobTest.withPhone(block: suspend (Collection) -> Unit) = timed {
    val db = openDb(dir, "phone.db")
    try {
        block(db.defaultCollection())
    } finally {
        db.close()
    }
}

/** Counts the largest single read of the stream it wraps. */
private class CountingStream(private val inner: InputStream) : InputStream() {
    var largestRead = 0

    override fun read(): Int = inner.read()

    override fun read(b: ByteArray, off: Int, len: Int): Int {
        largestRead = maxOf(largestRead, len)
        return inner.read(b, off, len)
    }
}

// Blobs (photos, recordings, files) as Couchbase Lite has them: a Blob made
// from bytes, a stream or a file is a value of a document (a map value or a
// field of a @Serializable class) and is stored when the document is saved.
// Bytes cross the FFI in chunks both ways, so no blob is ever whole in memory
// unless the app asks for its bytes.
package org.outpost

import kotlinx.serialization.KSerializer
import kotlinx.serialization.Serializable
import kotlinx.serialization.descriptors.SerialDescriptor
import kotlinx.serialization.encoding.Decoder
import kotlinx.serialization.encoding.Encoder
import kotlinx.serialization.json.JsonDecoder
import kotlinx.serialization.json.JsonEncoder
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.contentOrNull
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.longOrNull
import java.io.ByteArrayInputStream
import java.io.File
import java.io.FileInputStream
import java.io.InputStream
import org.outpost.ffi.BlobReader as FfiBlobReader
import org.outpost.ffi.Collection as FfiCollection

/** Bytes per chunk crossing the FFI. */
internal const val BLOB_CHUNK_BYTES = 64 * 1024

/**
 * A blob: binary content (a photo, a recording) held in a document by reference, stored once
 * per database however many documents name it, and synced with them.
 *
 * Make one from a [ByteArray], an [InputStream] or a [File] and put it in a document (a map
 * value or a field of a `@Serializable` class); saving the document stores its bytes, streamed,
 * and the blob then has a [digest]. Blobs read from a document ([Collection.get], [Collection.blobs])
 * read their bytes from the database: [openStream] streams them, [bytes] loads them whole.
 *
 * ```
 * @Serializable data class Child(val name: String, val photo: Blob? = null)
 * children.save("child-1", Child("Amina", Blob("image/jpeg", File(dir, "amina.jpg"))))
 * val photo = children.get<Child>("child-1")!!.value.photo!!
 * photo.openStream().use { it.copyTo(output) }
 * ```
 *
 * Two stored blobs are equal when their digests are.
 */
@Serializable(with = BlobSerializer::class)
class Blob private constructor(
    /** MIME type, if given (`image/jpeg`). */
    val contentType: String?,
    private var source: (() -> InputStream)?,
    private var knownLength: Long?,
) {
    /** A blob of [content] (copied). */
    constructor(contentType: String?, content: ByteArray) :
        this(contentType, content.copyOf().let { bytes -> { ByteArrayInputStream(bytes) } }, content.size.toLong())

    /** A blob of what [stream] yields; it is read once, when the blob is stored, and closed then. */
    constructor(contentType: String?, stream: InputStream) : this(contentType, oneShot(stream), null)

    /** A blob of [file]'s content, read (streamed) when the blob is stored. */
    constructor(contentType: String?, file: File) : this(contentType, { FileInputStream(file) }, null)

    private var ref: JsonObject? = null
    private var store: FfiCollection? = null

    /** `sha256-` and the SHA-256 of the bytes in base64; null until the blob is stored. */
    val digest: String? get() = synchronized(this) { ref?.get("digest")?.jsonPrimitive?.contentOrNull }

    /** Length in bytes; null for a stream or file not stored yet. */
    val length: Long? get() = synchronized(this) { ref?.get("length")?.jsonPrimitive?.longOrNull ?: knownLength }

    /** Whether the bytes are in a database (the blob was saved, or read from a document). */
    val isStored: Boolean get() = synchronized(this) { ref != null }

    /**
     * The bytes as a stream, read in chunks (never whole in memory): from the database for a
     * stored blob, else from what it was made of. Blocking: read it off the main thread, and
     * close it.
     *
     * @throws OutpostException.NotFound if the blob is not in the database it was read from.
     */
    fun openStream(): InputStream {
        val (stored, digest, source) = synchronized(this) { Triple(store, digest, source) }
        if (stored != null && digest != null) return BlobInputStream(rethrowing { stored.openBlob(digest) })
        source ?: throw OutpostException.InvalidInput(
            "this blob was decoded outside its collection; read it through Collection.get or Collection.blobs",
        )
        return source()
    }

    /** The bytes, loaded whole: for small blobs; stream large ones with [openStream]. */
    suspend fun bytes(): ByteArray = io { openStream().use { it.readBytes() } }

    /**
     * Stores the bytes in [collection]'s database if they are not there (blocking; called by a
     * save), and returns the in-body reference.
     */
    internal fun storeIn(collection: FfiCollection): JsonObject = synchronized(this) {
        val current = ref
        if (current != null) {
            val digest = current["digest"]!!.jsonPrimitive.content
            val present = try {
                collection.openBlob(digest).close()
                true
            } catch (e: org.outpost.ffi.OutpostException.NotFound) {
                false
            }
            if (present) return current
        }
        val writer = collection.blobWriter(contentType)
        val saved = writer.use { w ->
            openStream().use { input ->
                val buffer = ByteArray(BLOB_CHUNK_BYTES)
                while (true) {
                    val n = input.read(buffer)
                    if (n < 0) break
                    if (n > 0) w.write(buffer.copyOf(n))
                }
            }
            w.finish()
        }
        val expected = current?.get("digest")?.jsonPrimitive?.content
        if (expected != null && saved.digest != expected) {
            throw OutpostException.Corrupt("blob $expected read back as ${saved.digest}")
        }
        val stored = outpostJson.parseToJsonElement(saved.json).jsonObject
        ref = stored
        store = collection
        source = null
        knownLength = null
        return stored
    }

    /** The reference as stored, bound to [collection] for reading. */
    internal fun bindTo(collection: FfiCollection?): Blob = apply { synchronized(this) { if (store == null) store = collection } }

    override fun equals(other: Any?): Boolean {
        if (this === other) return true
        if (other !is Blob) return false
        val digest = digest ?: return false
        return digest == other.digest
    }

    override fun hashCode(): Int = digest?.hashCode() ?: System.identityHashCode(this)

    override fun toString(): String = "Blob(${contentType ?: "no content type"}, ${length ?: "?"} bytes, ${digest ?: "not stored"})"

    internal companion object {
        /** A blob read from a document body's blob object. */
        fun fromRef(ref: JsonObject, collection: FfiCollection?): Blob =
            Blob(ref["content_type"]?.jsonPrimitive?.contentOrNull, null, null).also {
                it.ref = ref
                it.store = collection
            }

        /** Whether [json] is a blob object (`"@type":"blob"`). */
        fun isRef(json: JsonObject): Boolean = (json["@type"] as? JsonPrimitive)?.contentOrNull == "blob"

        private fun oneShot(stream: InputStream): () -> InputStream {
            var used = false
            return {
                check(!used) { "this blob's InputStream was already read; make a new Blob" }
                used = true
                stream
            }
        }
    }
}

/**
 * The collection a document is being encoded for or decoded from, on this thread: where a
 * [Blob] in it is stored, or read from.
 */
internal object BlobScope {
    private val current = ThreadLocal<FfiCollection?>()

    fun get(): FfiCollection? = current.get()

    fun <T> with(collection: FfiCollection, block: () -> T): T {
        val previous = current.get()
        current.set(collection)
        try {
            return block()
        } finally {
            current.set(previous)
        }
    }
}

/**
 * Encodes a [Blob] as the in-body blob object (`{"@type":"blob","digest":…}`), storing its bytes
 * first when a document is being saved; decodes one bound to the collection read from.
 */
object BlobSerializer : KSerializer<Blob> {
    override val descriptor: SerialDescriptor = JsonObject.serializer().descriptor

    override fun serialize(encoder: Encoder, value: Blob) {
        val json = encoder as? JsonEncoder ?: throw OutpostException.InvalidInput("a Blob encodes to JSON only")
        val collection = BlobScope.get() ?: throw OutpostException.InvalidInput(
            "a Blob is encoded only when its document is saved (Collection.save)",
        )
        json.encodeJsonElement(value.storeIn(collection))
    }

    override fun deserialize(decoder: Decoder): Blob {
        val json = decoder as? JsonDecoder ?: throw OutpostException.InvalidInput("a Blob decodes from JSON only")
        val element = json.decodeJsonElement().jsonObject
        if (!Blob.isRef(element)) throw OutpostException.InvalidInput("not a blob object: $element")
        return Blob.fromRef(element, BlobScope.get())
    }
}

/** Streams a stored blob through the FFI in chunks. */
private class BlobInputStream(private val reader: FfiBlobReader) : InputStream() {
    private var offset = 0L
    private var chunk = ByteArray(0)
    private var at = 0
    private var closed = false

    private fun fill(): Boolean {
        if (at < chunk.size) return true
        if (closed) throw java.io.IOException("stream closed")
        chunk = rethrowing { reader.read(offset.toULong(), BLOB_CHUNK_BYTES.toUInt()) }
        offset += chunk.size
        at = 0
        return chunk.isNotEmpty()
    }

    override fun read(): Int = if (fill()) chunk[at++].toInt() and 0xff else -1

    override fun read(b: ByteArray, off: Int, len: Int): Int {
        java.util.Objects.checkFromIndexSize(off, len, b.size)
        if (len == 0) return 0
        if (!fill()) return -1
        val n = minOf(len, chunk.size - at)
        System.arraycopy(chunk, at, b, off, n)
        at += n
        return n
    }

    override fun available(): Int = chunk.size - at

    override fun close() {
        if (!closed) {
            closed = true
            reader.close()
        }
    }
}

// Typed documents over the JSON bodies that cross the FFI: app classes through
// kotlinx.serialization, or Map<String, Any?>, and `update`, which reads,
// changes and saves a document, retrying when another writer got there first.
package org.outpost

import kotlinx.serialization.KSerializer
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.booleanOrNull
import kotlinx.serialization.json.doubleOrNull
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.longOrNull
import kotlinx.serialization.serializer

/**
 * The JSON format of typed documents: unknown keys are kept out of the app's classes (a newer
 * app version's fields do not break an older one), defaults are written.
 */
val outpostJson: Json = Json {
    ignoreUnknownKeys = true
    encodeDefaults = true
}

/** A live document read as [T]: its winning revision and its body decoded. */
data class TypedDocument<T>(
    val id: String,
    /** Winning revision id; pass it to the next save. */
    val rev: String,
    /** The body, decoded. */
    val value: T,
    /** Revision ids of the losing live leaves, if the document is in conflict. */
    val conflicts: List<String>,
    /** Database sequence of the document's latest change. */
    val sequence: Long,
)

/**
 * Saves [value] (encoded with [serializer] to a JSON object) as the document [id] over [rev]
 * (null to create) and returns the new revision.
 *
 * @throws OutpostException.Conflict if [rev] is not the current revision; see [update].
 * @throws OutpostException.InvalidInput if [value] does not encode to a JSON object.
 */
suspend fun <T> Collection.save(id: String, value: T, serializer: KSerializer<T>, rev: String? = null): String =
    io { ffi.save(id, rev, BlobScope.with(ffi) { outpostJson.encodeToString(serializer, value) }) }

/**
 * Saves [value] as the document [id] over [rev] (null to create); returns the new revision.
 *
 * ```
 * @Serializable data class Child(val name: String, val age: Int)
 * val rev = children.save("child-1", Child("Amina", 7))
 * ```
 */
suspend inline fun <reified T> Collection.save(id: String, value: T, rev: String? = null): String =
    save(id, value, serializer<T>(), rev)

/**
 * Saves [map] (values: null, Boolean, Number, String, [Blob], List and Map of those) over [rev];
 * the bytes of its blobs are stored first, streamed.
 */
suspend fun Collection.save(id: String, map: Map<String, Any?>, rev: String? = null): String =
    io { ffi.save(id, rev, BlobScope.with(ffi) { mapToJson(map) }) }

/**
 * The blobs the live document [id] names (empty if there is none or it is deleted), by name: a
 * top-level field's name, or a JSON pointer (`/photos/0`) for a nested one.
 */
suspend fun Collection.blobs(id: String): Map<String, Blob> = io {
    ffi.blobs(id).associate { it.name to Blob.fromRef(outpostJson.parseToJsonElement(it.blob.json).jsonObject, ffi) }
}

/** The live document [id] decoded with [serializer], or null if there is none or it is deleted. */
suspend fun <T> Collection.get(id: String, serializer: KSerializer<T>): TypedDocument<T>? {
    val doc = getDocument(id) ?: return null
    if (doc.deleted) return null
    return TypedDocument(doc.id, doc.rev, decodeIn(serializer, doc.json), doc.conflicts, doc.sequence)
}

/** The live document [id] decoded as [T], or null if there is none or it is deleted. */
suspend inline fun <reified T> Collection.get(id: String): TypedDocument<T>? = get(id, serializer<T>())

/**
 * Reads the document [id], saves `change(current)` over it (current is null if there is none or
 * it is deleted), and returns the new revision. If another writer saved in between, it reads
 * again and calls [change] again, up to [maxAttempts] times in all: [change] must be free of
 * side effects.
 *
 * ```
 * children.update<Child>("child-1") { it!!.copy(age = it.age + 1) }
 * ```
 *
 * @throws OutpostException.Conflict if every attempt lost the race.
 */
suspend fun <T> Collection.update(id: String, serializer: KSerializer<T>, maxAttempts: Int = 10, change: (T?) -> T): String {
    require(maxAttempts >= 1) { "maxAttempts must be at least 1" }
    var attempt = 1
    while (true) {
        val doc = getDocument(id)
        val current = doc?.takeUnless { it.deleted }?.let { decodeIn(serializer, it.json) }
        try {
            return save(id, change(current), serializer, doc?.rev)
        } catch (e: OutpostException.Conflict) {
            if (attempt++ >= maxAttempts) throw e
        }
    }
}

/** [json] decoded with [serializer], its blobs read from this collection. */
private fun <T> Collection.decodeIn(serializer: KSerializer<T>, json: String): T =
    BlobScope.with(ffi) { outpostJson.decodeFromString(serializer, json) }

/** [update] for a [T] known at compile time. */
suspend inline fun <reified T> Collection.update(id: String, maxAttempts: Int = 10, noinline change: (T?) -> T): String =
    update(id, serializer<T>(), maxAttempts, change)

/**
 * The body as a map: JSON objects as `Map<String, Any?>`, arrays as `List<Any?>`, integers as
 * `Long`, other numbers as `Double`.
 */
fun Document.toMap(): Map<String, Any?> = jsonToMap(json)

/** The body decoded as [T] (its blobs cannot be read: decode with `Collection.get` for that). */
inline fun <reified T> Document.decode(): T = outpostJson.decodeFromString(serializer<T>(), json)

/** A [WriteOperation.Save] of [value] encoded as JSON (blobs: save with `Collection.save`). */
inline fun <reified T> saveOperation(id: String, value: T, rev: String? = null): WriteOperation =
    WriteOperation.Save(id, outpostJson.encodeToString(serializer<T>(), value), rev)

/** JSON text as a map (see [Document.toMap]). */
fun jsonToMap(json: String): Map<String, Any?> =
    outpostJson.parseToJsonElement(json).jsonObject.mapValues { fromJson(it.value) }

/** A map (values: null, Boolean, Number, String, List and Map of those; [Blob]s inside `Collection.save`) as JSON text. */
fun mapToJson(map: Map<String, Any?>): String = outpostJson.encodeToString(JsonObject.serializer(), toJson(map) as JsonObject)

internal fun toJson(value: Any?): JsonElement = when (value) {
    null -> JsonNull
    is Boolean -> JsonPrimitive(value)
    is Number -> JsonPrimitive(value)
    is String -> JsonPrimitive(value)
    is Map<*, *> -> JsonObject(value.entries.associate { (k, v) ->
        (k as? String ?: throw OutpostException.InvalidInput("a map key is not a String: $k")) to toJson(v)
    })
    is Iterable<*> -> JsonArray(value.map(::toJson))
    is Array<*> -> JsonArray(value.map(::toJson))
    is JsonElement -> value
    is Blob -> value.storeIn(BlobScope.get() ?: throw OutpostException.InvalidInput("a Blob is stored only by Collection.save"))
    else -> throw OutpostException.InvalidInput("cannot store a ${value::class.qualifiedName} in a document")
}

private fun fromJson(element: JsonElement): Any? = when (element) {
    is JsonNull -> null
    is JsonObject -> element.mapValues { fromJson(it.value) }
    is JsonArray -> element.map(::fromJson)
    is JsonPrimitive -> when {
        element.isString -> element.content
        else -> element.booleanOrNull ?: element.longOrNull ?: element.doubleOrNull ?: element.content
    }
}

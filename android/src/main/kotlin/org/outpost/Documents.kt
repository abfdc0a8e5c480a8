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
import kotlinx.coroutines.withContext

/**
 * The JSON format of typed documents: unknown keys are kept out of the app's classes (a newer
 * app version's fields do not break an older one), defaults are written.
 */
val outpostJson: Json = Json {
    ignoreUnknownKeys = true
    encodeDefaults = true
}

/** A document read as [T]: its winning revision and its body decoded. */
data class TypedDocument<T>(
    /** Document id. */
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
suspend fun <T> Collection.save(id: String, value: T, serializer: KSerializer<T>, rev: String? = null): String {
    val body = outpostJson.encodeToString(serializer, value)
    return withContext(outpostDispatcher) { save(id, rev, body) }
}

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

/** The live document [id] decoded with [serializer], or null if there is none or it is deleted. */
suspend fun <T> Collection.document(id: String, serializer: KSerializer<T>): TypedDocument<T>? {
    val doc = withContext(outpostDispatcher) { get(id) } ?: return null
    if (doc.deleted) return null
    return TypedDocument(doc.id, doc.rev, outpostJson.decodeFromString(serializer, doc.body), doc.conflicts, doc.sequence.toLong())
}

/** The live document [id] decoded as [T], or null if there is none or it is deleted. */
suspend inline fun <reified T> Collection.document(id: String): TypedDocument<T>? = document(id, serializer<T>())

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
suspend fun <T> Collection.update(
    id: String,
    serializer: KSerializer<T>,
    maxAttempts: Int = 10,
    change: (T?) -> T,
): String {
    require(maxAttempts >= 1) { "maxAttempts must be at least 1" }
    var attempt = 1
    while (true) {
        val (rev, current) = withContext(outpostDispatcher) { get(id) }?.let { doc ->
            doc.rev to if (doc.deleted) null else outpostJson.decodeFromString(serializer, doc.body)
        } ?: (null to null)
        try {
            return save(id, change(current), serializer, rev)
        } catch (e: OutpostException.Conflict) {
            if (attempt++ >= maxAttempts) throw e
        }
    }
}

/** [update] for a [T] known at compile time. */
suspend inline fun <reified T> Collection.update(id: String, maxAttempts: Int = 10, noinline change: (T?) -> T): String =
    update(id, serializer<T>(), maxAttempts, change)

// ---- Map<String, Any?> ----

/** Saves [map] (values: null, Boolean, Number, String, List and Map of those) over [rev]. */
suspend fun Collection.save(id: String, map: Map<String, Any?>, rev: String? = null): String =
    save(id, toJson(map) as JsonObject, JsonObject.serializer(), rev)

/**
 * The body as a map: JSON objects as `Map<String, Any?>`, arrays as `List<Any?>`, integers as
 * `Long`, other numbers as `Double`.
 */
fun Document.toMap(): Map<String, Any?> = bodyToMap(body)

/** The body decoded as [T]. */
inline fun <reified T> Document.decode(): T = outpostJson.decodeFromString(serializer<T>(), body)

// ---- Conflict resolvers see decoded documents ----

/** This conflicting revision's body as a map (see [Document.toMap]). */
fun ConflictingRevision.toMap(): Map<String, Any?> = bodyToMap(body)

/**
 * This conflicting revision's body decoded as [T], for a resolver:
 *
 * ```
 * conflictResolver { conflict ->
 *     val sides = conflict.revisions.filterNot { it.deleted }.map { it.decode<Child>() }
 *     mergeOf(sides.maxBy { it.age })
 * }
 * ```
 */
inline fun <reified T> ConflictingRevision.decode(): T = outpostJson.decodeFromString(serializer<T>(), body)

/** A resolution that saves [value] as the merged document. */
inline fun <reified T> mergeOf(value: T): Resolution = Resolution.Merge(outpostJson.encodeToString(serializer<T>(), value))

private fun bodyToMap(body: String): Map<String, Any?> =
    outpostJson.parseToJsonElement(body).jsonObject.mapValues { fromJson(it.value) }

private fun toJson(value: Any?): JsonElement = when (value) {
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

// Queries: a small DSL that builds CouchDB Mango selectors (or raw JSON
// ones), value and full-text indexes, full-text search, and live queries as
// a Flow of result lists. The selector crosses the FFI as a Mango request
// (JSON text); results come back as documents.
package org.outpost

import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.map
import kotlinx.serialization.KSerializer
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.serializer

/** A condition on documents: build one with [field] and its operators, combine with [and], [or], [not]. */
class Selector internal constructor(internal val json: JsonObject) {
    /** Both conditions. */
    infix fun and(other: Selector): Selector = allOf(this, other)

    /** Either condition. */
    infix fun or(other: Selector): Selector = anyOf(this, other)

    override fun toString(): String = json.toString()

    companion object {
        /** A selector written as Mango JSON text (`{"age": {"$lt": 10}}`). */
        fun raw(json: String): Selector = Selector(
            runCatching { outpostJson.parseToJsonElement(json).jsonObject }
                .getOrElse { throw OutpostException.InvalidInput("a selector must be a JSON object: ${it.message}") },
        )

        /** Every document. */
        val all: Selector = Selector(JsonObject(emptyMap()))
    }
}

/** The field at [path] (dotted: `"family.mother.name"`), to compare: `field("age") lt 10`. */
fun field(path: String): Field = Field(path)

/** A field of the documents, and the Mango operators on it. Values: null, Boolean, Number, String, List, Map. */
class Field internal constructor(private val path: String) {
    private fun op(name: String, value: JsonElement) = Selector(JsonObject(mapOf(path to JsonObject(mapOf(name to value)))))

    infix fun eq(value: Any?): Selector = op("\$eq", toJson(value))
    infix fun ne(value: Any?): Selector = op("\$ne", toJson(value))
    infix fun gt(value: Any?): Selector = op("\$gt", toJson(value))
    infix fun gte(value: Any?): Selector = op("\$gte", toJson(value))
    infix fun lt(value: Any?): Selector = op("\$lt", toJson(value))
    infix fun lte(value: Any?): Selector = op("\$lte", toJson(value))

    /** One of [values]. */
    infix fun isIn(values: List<Any?>): Selector = op("\$in", toJson(values))

    /** Present and none of [values]. */
    infix fun notIn(values: List<Any?>): Selector = op("\$nin", toJson(values))

    /** Present ([present] true) or missing. */
    fun exists(present: Boolean = true): Selector = op("\$exists", JsonPrimitive(present))

    /** Of a JSON type: `null`, `boolean`, `number`, `string`, `array` or `object`. */
    infix fun isType(type: String): Selector = op("\$type", JsonPrimitive(type))

    /** A string matching [pattern] (Rust regex syntax; linear time). */
    infix fun matches(pattern: String): Selector = op("\$regex", JsonPrimitive(pattern))

    /** An array of [size] elements. */
    infix fun hasSize(size: Int): Selector = op("\$size", JsonPrimitive(size))

    /** An array holding every one of [values]. */
    infix fun containsAll(values: List<Any?>): Selector = op("\$all", toJson(values))

    /** An array with an element for which [element] holds; in it, `field("x")` is the element's field x. */
    infix fun elemMatch(element: Selector): Selector = op("\$elemMatch", element.json)
}

/** All of [selectors]. */
fun allOf(vararg selectors: Selector): Selector = Selector(JsonObject(mapOf("\$and" to JsonArray(selectors.map { it.json }))))

/** Any of [selectors]. */
fun anyOf(vararg selectors: Selector): Selector = Selector(JsonObject(mapOf("\$or" to JsonArray(selectors.map { it.json }))))

/** Not [selector] (also matches documents missing its fields). */
fun not(selector: Selector): Selector = Selector(JsonObject(mapOf("\$not" to selector.json)))

/** Documents whose text-indexed fields hold every word of [words] (`word*` for a prefix). */
fun text(words: String): Selector = Selector(JsonObject(mapOf("\$text" to JsonPrimitive(words))))

/**
 * A query: a [Selector], then an order, a page and the fields to return.
 *
 * ```
 * val q = Query.where((field("camp") eq "north") and (field("age") lt 10)).orderBy("age").limit(20)
 * val children: List<Document> = collection.find(q)
 * ```
 */
class Query private constructor(
    /** The request as given (`{"selector": ...}` and what a raw request added). */
    private val base: JsonObject,
    private val sort: List<Pair<String, Boolean>> = emptyList(),
    private val limit: Int? = null,
    private val skip: Int? = null,
    private val fields: List<String>? = null,
) {
    companion object {
        /** The documents [selector] matches (at most 25 unless [limit] says otherwise). */
        fun where(selector: Selector): Query = Query(JsonObject(mapOf("selector" to selector.json)))

        /** A query written as Mango JSON text: a selector, or a whole request with `"selector"`. */
        fun raw(json: String): Query {
            val obj = Selector.raw(json).json
            return Query(if (obj["selector"] is JsonObject) obj else JsonObject(mapOf("selector" to obj)))
        }
    }

    private fun copy(
        sort: List<Pair<String, Boolean>> = this.sort,
        limit: Int? = this.limit,
        skip: Int? = this.skip,
        fields: List<String>? = this.fields,
    ) = Query(base, sort, limit, skip, fields)

    /** Then sorted by [path] (CouchDB collation; missing values first ascending). */
    fun orderBy(path: String, descending: Boolean = false): Query = copy(sort = sort + (path to descending))

    /** At most [n] documents. */
    fun limit(n: Int): Query = copy(limit = n.also { require(it >= 0) { "limit must not be negative" } })

    /** Skips the first [n] documents. */
    fun skip(n: Int): Query = copy(skip = n.also { require(it >= 0) { "skip must not be negative" } })

    /** Returns only these fields of each body (the id and revision always come). */
    fun fields(vararg paths: String): Query = copy(fields = paths.toList())

    /** The Mango request this query sends (JSON text). */
    fun toJson(): String {
        val request = base.toMutableMap()
        if (sort.isNotEmpty()) {
            request["sort"] = JsonArray(sort.map { (path, desc) -> JsonObject(mapOf(path to JsonPrimitive(if (desc) "desc" else "asc"))) })
        }
        limit?.let { request["limit"] = JsonPrimitive(it) }
        skip?.let { request["skip"] = JsonPrimitive(it) }
        fields?.let { list -> request["fields"] = JsonArray(list.map(::JsonPrimitive)) }
        return JsonObject(request).toString()
    }

    override fun toString(): String = toJson()
}

/** Whether an index is a value index or a full-text one. */
enum class IndexKind { VALUE, TEXT }

/** An index of a collection. */
data class IndexInfo(val name: String, val kind: IndexKind, val fields: List<String>)

/** A full-text search result; a lower [score] is a better match (BM25). */
data class SearchHit(val document: Document, val score: Double)

/** The live documents [query] matches, in its order. */
suspend fun Collection.find(query: Query): List<Document> = io { ffi.find(query.toJson()).map { it.toPublic() } }

/** [find], each body decoded with [serializer]. */
suspend fun <T> Collection.find(query: Query, serializer: KSerializer<T>): List<TypedDocument<T>> =
    find(query).map { TypedDocument(it.id, it.rev, outpostJson.decodeFromString(serializer, it.json), it.conflicts, it.sequence) }

/** [find], each body decoded as [T]. */
suspend inline fun <reified T> Collection.findAs(query: Query): List<TypedDocument<T>> = find(query, serializer<T>())

/** How many live documents [query]'s selector matches (its limit and skip aside). */
suspend fun Collection.count(query: Query): Long = io { ffi.countMatching(query.toJson()).toLong() }

/** The value index [query] reads (null: a scan of the collection). */
suspend fun Collection.explain(query: Query): String? = io { ffi.explain(query.toJson()).index }

/** Creates a value index on [fields] (dotted paths); creating it again does nothing. Local: never replicated. */
suspend fun Collection.createIndex(name: String, vararg fields: String) = io { ffi.createIndex(name, fields.toList()) }

/** Creates a full-text index on [fields] (case and diacritics ignored), for [search] and [text]. */
suspend fun Collection.createTextIndex(name: String, vararg fields: String) = io { ffi.createTextIndex(name, fields.toList()) }

/** The collection's indexes, by name. */
suspend fun Collection.indexes(): List<IndexInfo> = io {
    ffi.indexes().map { IndexInfo(it.name, if (it.kind == org.outpost.ffi.IndexKind.TEXT) IndexKind.TEXT else IndexKind.VALUE, it.fields) }
}

/** Deletes the index [name]; whether there was one. */
suspend fun Collection.deleteIndex(name: String): Boolean = io { ffi.deleteIndex(name) }

/** Full-text search: documents holding every word of [words] (`word*` for a prefix), best first. */
suspend fun Collection.search(words: String, limit: Int = 25): List<SearchHit> {
    require(limit >= 0) { "limit must not be negative" }
    return io { ffi.search(words, limit.toUInt()).map { SearchHit(it.document.toPublic(), it.score) } }
}

/**
 * The results of [query] now, then again each time a change (local or replicated) alters them,
 * while collected.
 *
 * ```
 * children.liveQuery(Query.where(field("camp") eq "north")).collect { list -> show(list) }
 * ```
 */
fun Collection.liveQuery(query: Query): Flow<List<Document>> = flowOf { send ->
    rethrowing {
        ffi.liveQuery(query.toJson(), object : org.outpost.ffi.LiveQueryListener {
            override fun onResults(documents: List<org.outpost.ffi.Document>) = send(documents.map { it.toPublic() })
        })
    }
}

/** [liveQuery], each body decoded as [T]. */
inline fun <reified T> Collection.liveQueryAs(query: Query): Flow<List<TypedDocument<T>>> = liveQuery(query).map { list ->
    list.map { TypedDocument(it.id, it.rev, outpostJson.decodeFromString(serializer<T>(), it.json), it.conflicts, it.sequence) }
}

using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using static HepDb.Engines.Mongo.MongoNative;

namespace HepDb.Engines.Mongo;

/// <summary>An error from libmongoc or from the server, with libmongoc's domain and code (for server errors the code is
/// the server's own error code, e.g. 11 UserNotFound) and, when the server answered, its reply.</summary>
public sealed class MongoException(uint domain, uint code, string message, JsonObject? reply = null)
    : Exception($"MongoDB error {domain}.{code}: {message}")
{
    public uint Domain { get; } = domain;
    public uint Code { get; } = code;
    public string ServerMessage { get; } = message;
    public JsonObject? Reply { get; } = reply;

    /// <summary>The server could not be selected or the connection broke: nothing to do with the command itself.</summary>
    public bool IsUnreachable => Domain is DomainServerSelection or DomainStream or DomainProtocol;

    /// <summary>Authentication was refused (SCRAM conversation failed, wrong user or password).</summary>
    public bool IsAuthenticationFailure =>
        (Domain == DomainClient && Code == CodeClientAuthenticate) || Domain is DomainSasl or DomainScram;

    /// <summary>The server answered and refused the command.</summary>
    public bool IsServerError => Domain is DomainServer or DomainWriteConcern;
}

/// <summary>Where and as whom a <see cref="MongoClientSession"/> connects.</summary>
public sealed record MongoEndpoint(string Host, int Port, string? User, string? Password, TimeSpan Timeout)
{
    /// <summary>Tenant logins name the mechanism so a server that only offers SCRAM-SHA-1 fails loudly instead of
    /// silently downgrading; the admin login lets the driver negotiate.</summary>
    public string? Mechanism { get; init; }
}

/// <summary>
/// One <c>mongoc_client_t</c> (single-threaded client) for one operation.
/// <para>Why not a <c>mongoc_client_pool_t</c>: a single-threaded client is not thread-safe, so it is created, used by
/// one caller and destroyed here, and never shared. HepDb's admin traffic is rare (provisioning, a size scan per minute),
/// so the cost of a connect + handshake + SCRAM per operation is small, and in exchange there is no background monitor
/// thread, no pool lifetime to manage, and server-selection failures surface on the calling thread within
/// <c>serverSelectionTimeoutMS</c>. Nothing about a client outlives the session, so a stale pool can never hold an old
/// admin password either.</para>
/// <para>Commands go in as JSON built with System.Text.Json (never by concatenating user values) and come back as relaxed
/// extended JSON, parsed into <see cref="JsonObject"/>.</para>
/// </summary>
public sealed unsafe class MongoClientSession : IDisposable
{
    private IntPtr _client;

    private MongoClientSession(IntPtr client) => _client = client;

    /// <summary>Opens a client and runs <c>ping</c> on <c>admin</c>, so the connection, handshake and authentication are
    /// done (and any failure thrown) before the caller sends anything that changes state.</summary>
    public static MongoClientSession Open(MongoEndpoint endpoint)
    {
        EnsureInitialized();
        var timeoutMs = (int)Math.Clamp(endpoint.Timeout.TotalMilliseconds, 100, int.MaxValue);
        var host = endpoint.Host.Contains(':', StringComparison.Ordinal) && !endpoint.Host.StartsWith('[') ? $"[{endpoint.Host}]" : endpoint.Host;
        var uri = mongoc_uri_new_for_host_port(host, checked((ushort)endpoint.Port));
        if (uri == IntPtr.Zero) throw new MongoException(DomainClient, 0, $"invalid host or port '{endpoint.Host}:{endpoint.Port}'");
        try
        {
            // Credentials are set on the parsed URI, not spliced into a URI string, so no value needs escaping.
            if (!string.IsNullOrEmpty(endpoint.User))
            {
                Require(mongoc_uri_set_username(uri, endpoint.User), "username");
                Require(mongoc_uri_set_password(uri, endpoint.Password ?? ""), "password");
                Require(mongoc_uri_set_auth_source(uri, "admin"), "authSource");
                if (endpoint.Mechanism is { } m) Require(mongoc_uri_set_auth_mechanism(uri, m), "authMechanism");
            }
            Require(mongoc_uri_set_appname(uri, "hepdb"), "appname");
            // tryOnce=false + serverSelectionTimeoutMS: keep retrying for up to the configured timeout, then fail, rather
            // than the single-threaded default of failing on the first refused connection.
            Require(mongoc_uri_set_option_as_bool(uri, "serverSelectionTryOnce", false), "serverSelectionTryOnce");
            Require(mongoc_uri_set_option_as_int32(uri, "serverSelectionTimeoutMS", timeoutMs), "serverSelectionTimeoutMS");
            Require(mongoc_uri_set_option_as_int32(uri, "connectTimeoutMS", timeoutMs), "connectTimeoutMS");
            // Admin commands such as dropDatabase can take a while on a busy server, but never minutes.
            Require(mongoc_uri_set_option_as_int32(uri, "socketTimeoutMS", Math.Max(timeoutMs, 30_000)), "socketTimeoutMS");

            BsonError error;
            var client = mongoc_client_new_from_uri_with_error(uri, &error);
            if (client == IntPtr.Zero) throw new MongoException(error.Domain, error.Code, error.Text());
            // Error API 2 reports server refusals in their own domain (DomainServer) with the server's code.
            mongoc_client_set_error_api(client, 2);
            var session = new MongoClientSession(client);
            try
            {
                session.Run("admin", new JsonObject { ["ping"] = 1 });
                return session;
            }
            catch
            {
                session.Dispose();
                throw;
            }
        }
        finally
        {
            mongoc_uri_destroy(uri);
        }
    }

    /// <summary>Runs one command on <paramref name="database"/> and returns the server's reply. The first key of
    /// <paramref name="command"/> is the command name (JsonObject keeps insertion order).</summary>
    public JsonObject Run(string database, JsonObject command) => RunJson(database, command.ToJsonString());

    /// <summary>Runs one command given as (extended) JSON text.</summary>
    public JsonObject RunJson(string database, string commandJson)
    {
        var json = Encoding.UTF8.GetBytes(commandJson);
        BsonError error;
        IntPtr bson;
        fixed (byte* p = json) bson = bson_new_from_json(p, json.Length, &error);
        if (bson == IntPtr.Zero) throw new MongoException(error.Domain, error.Code, "invalid command document: " + error.Text());

        // bson_t is 128 bytes, 128-aligned; command_simple always initialises the reply, even on failure.
        var reply = NativeMemory.AlignedAlloc(128, 128);
        try
        {
            var ok = mongoc_client_command_simple(Handle, database, bson, IntPtr.Zero, reply, &error);
            var replyJson = ReplyToJson(reply);
            if (!ok) throw new MongoException(error.Domain, error.Code, error.Text(), replyJson);
            return replyJson ?? [];
        }
        finally
        {
            bson_destroy(reply);
            NativeMemory.AlignedFree(reply);
            bson_destroy((void*)bson);
        }
    }

    private static JsonObject? ReplyToJson(void* reply)
    {
        var text = bson_as_relaxed_extended_json(reply, out _);
        if (text == IntPtr.Zero) return null;
        try
        {
            var s = Marshal.PtrToStringUTF8(text);
            return string.IsNullOrEmpty(s) ? null : JsonNode.Parse(s) as JsonObject;
        }
        finally
        {
            bson_free(text);
        }
    }

    private static void Require(bool ok, string what)
    {
        if (!ok) throw new MongoException(DomainClient, 0, $"libmongoc refused the URI option {what}");
    }

    private IntPtr Handle => _client != IntPtr.Zero ? _client : throw new ObjectDisposedException(nameof(MongoClientSession));

    public void Dispose()
    {
        if (_client == IntPtr.Zero) return;
        mongoc_client_destroy(_client);
        _client = IntPtr.Zero;
    }
}

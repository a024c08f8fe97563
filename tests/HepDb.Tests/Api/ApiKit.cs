using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using HepDb.Engines;
using HepDb.Engines.MariaDb;
using HepDb.Engines.Postgres;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Tests.Api;

/// <summary>Paths of the management API (SPEC §3).</summary>
internal static class Paths
{
    public const string Databases = "/api/v1/db/databases";
    public static string Database(string id) => $"{Databases}/{id}";
    public static string Rotate(string id) => $"{Databases}/{id}/rotate";
}

/// <summary>Builds requests byte for byte, so body, Content-Type and Content-Length are exactly what a test says.</summary>
internal static class Requests
{
    public static string CreateBody(string name = "my-app", string engine = "mariadb") =>
        JsonSerializer.Serialize(new { name, engine });

    public static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    /// <summary>A POST with <paramref name="body"/> as UTF-8 bytes (Content-Length set) and <paramref name="contentType"/>
    /// (none when null). A null body sends no content at all.</summary>
    public static HttpRequestMessage Post(string path, string? body, string? contentType = "application/json", string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
            if (contentType is not null) request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }
        if (idempotencyKey is not null) request.Headers.TryAddWithoutValidation("Idempotency-Key", idempotencyKey);
        return request;
    }

    /// <summary>A POST of exactly these bytes as <c>application/json</c>, for bodies a C# string cannot hold (invalid UTF-8).</summary>
    public static HttpRequestMessage PostBytes(string path, byte[] body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return request;
    }

    /// <summary>A POST whose body length is not announced (chunked), so the server must count the bytes itself.</summary>
    public static HttpRequestMessage PostWithoutLength(string path, string body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new UnknownLengthContent(Encoding.UTF8.GetBytes(body)) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return request;
    }

    /// <summary>A request with exactly this Authorization header value (or none when null).</summary>
    public static HttpRequestMessage WithAuthorization(HttpMethod method, string path, string? authorization, string? body = null)
    {
        var request = body is null ? new HttpRequestMessage(method, path) : Post(path, body);
        request.Method = method;
        if (authorization is not null) request.Headers.TryAddWithoutValidation("Authorization", authorization);
        return request;
    }

    private sealed class UnknownLengthContent(byte[] bytes) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            // Written in small pieces, as a streaming client would.
            for (var i = 0; i < bytes.Length; i += 1024)
                await stream.WriteAsync(bytes.AsMemory(i, Math.Min(1024, bytes.Length - i)));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}

/// <summary>
/// Everything a request could have changed for one account: its metadata rows (databases, idempotency keys, database
/// audit entries) and the engine objects named with its slug on both real servers, listed with the servers' own
/// admin credentials (independent of how the HepDb instance under test is configured).
/// </summary>
internal sealed record Footprint(int DatabaseRows, int IdempotencyRows, int DatabaseAudits, string EngineObjects)
{
    public static async Task<Footprint> OfAsync(HepDbApp app, TestAccount account)
    {
        var (rows, idempotency, audits) = await app.WithDbAsync(async db => (
            await db.Databases.CountAsync(d => d.AccountId == account.Id),
            await db.IdempotencyRecords.CountAsync(i => i.AccountId == account.Id),
            await db.AuditLog.CountAsync(a => a.AccountId == account.Id && a.Action.StartsWith("database."))));
        var objects = await Api.EngineObjects.ForSlugAsync(app.Engines, account.Slug);
        return new Footprint(rows, idempotency, audits, string.Join(",", objects));
    }
}

/// <summary>Engine databases and users, read with the real servers' admin credentials.</summary>
internal static class EngineObjects
{
    public static async Task<List<string>> ForSlugAsync(EngineServers engines, string slug)
    {
        var names = new List<string>();
        foreach (var kind in new[] { EngineKind.MariaDb, EngineKind.Postgres })
        {
            var found = await ListAsync(engines, kind);
            names.AddRange(found.Databases.Concat(found.Users).Where(n => n.Contains($"_{slug}_", StringComparison.Ordinal)).Select(n => $"{kind}:{n}"));
        }
        names.Sort(StringComparer.Ordinal);
        return names;
    }

    public static Task<TenantObjects> ListAsync(EngineServers engines, EngineKind kind) =>
        engines.Admin(kind).ListTenantObjectsAsync(CancellationToken.None);

    /// <summary>An adapter on the shared real server with its admin credentials, disposed with the scope.</summary>
    public sealed class AdminAdapter(EngineServers engines, EngineKind kind) : IAsyncDisposable
    {
        public IEngineAdapter Adapter { get; } = kind == EngineKind.MariaDb
            ? new MariaDbAdapter(engines.Engines.MariaDb)
            : new PostgresAdapter(engines.Engines.Postgres);

        public async ValueTask DisposeAsync()
        {
            if (Adapter is IAsyncDisposable d) await d.DisposeAsync();
        }
    }
}

/// <summary>The exact shapes of SPEC §3.</summary>
internal static partial class Shape
{
    public static readonly string[] DatabaseKeys = ["id", "name", "engine", "dbName", "dbUser", "sizeBytes", "sizeRefreshedAt", "status", "createdAt"];
    public static readonly string[] AccessKeys = ["database", "host", "port", "password", "connectionString"];

    [GeneratedRegex("^[0-7][0-9A-HJKMNP-TV-Z]{25}$")]
    public static partial Regex Ulid();

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")]
    public static partial Regex IsoMillis();

    [GeneratedRegex("^[A-Za-z0-9]{24,}$")]
    public static partial Regex Password();

    public static string[] Keys(JsonElement obj) => obj.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToArray();

    public static void HasExactlyKeys(JsonElement obj, string[] expected) =>
        Assert.Equal(expected.Order(StringComparer.Ordinal).ToArray(), Keys(obj));

    /// <summary>Asserts a SPEC database object of <paramref name="engine"/> named <paramref name="name"/> at slot <paramref name="slot"/>.</summary>
    public static void IsDatabaseObject(JsonElement db, TestAccount owner, string engine, string name, int slot)
    {
        HasExactlyKeys(db, DatabaseKeys);
        var id = db.GetProperty("id").GetString()!;
        Assert.Matches(Ulid(), id);
        Assert.InRange(UlidTime(id), DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(1));
        Assert.Equal(name, db.GetProperty("name").GetString());
        Assert.Equal(engine, db.GetProperty("engine").GetString());
        var e = engine switch { "mariadb" => 'm', "postgres" => 'p', _ => 'g' };
        Assert.Equal($"u{e}_{owner.Slug}_{slot}", db.GetProperty("dbName").GetString());
        Assert.Equal($"du{e}_{owner.Slug}_{slot}", db.GetProperty("dbUser").GetString());
        Assert.Equal(JsonValueKind.Number, db.GetProperty("sizeBytes").ValueKind);
        Assert.Equal(0, db.GetProperty("sizeBytes").GetInt64());
        Assert.Equal(JsonValueKind.Null, db.GetProperty("sizeRefreshedAt").ValueKind);
        Assert.Equal("active", db.GetProperty("status").GetString());
        var createdAt = db.GetProperty("createdAt").GetString()!;
        Assert.Matches(IsoMillis(), createdAt);
        var created = DateTimeOffset.ParseExact(createdAt, "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
        Assert.InRange(created, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(1));
    }

    /// <summary>Asserts the create/reveal/rotate <c>data</c>: exact keys, host, port, password and the SPEC URI form.</summary>
    public static void IsAccess(JsonElement data, EngineServers engines, TestAccount owner, string engine, string name, int slot)
    {
        HasExactlyKeys(data, AccessKeys);
        var db = data.GetProperty("database");
        IsDatabaseObject(db, owner, engine, name, slot);
        var (scheme, port) = engine == "mariadb" ? ("mysql", engines.Engines.MariaDb.Port) : ("postgresql", engines.Engines.Postgres.Port);
        Assert.Equal("127.0.0.1", data.GetProperty("host").GetString());
        Assert.Equal(JsonValueKind.Number, data.GetProperty("port").ValueKind);
        Assert.Equal(port, data.GetProperty("port").GetInt32());
        var password = data.GetProperty("password").GetString()!;
        Assert.Matches(Password(), password);
        // The test servers require TLS, as a local server does, so the engine's TLS parameter follows (SPEC §2).
        var tls = engine == "mariadb" ? "?ssl-mode=REQUIRED" : "?sslmode=require";
        Assert.Equal($"{scheme}://{db.GetProperty("dbUser").GetString()}:{password}@127.0.0.1:{port}/{db.GetProperty("dbName").GetString()}{tls}",
            data.GetProperty("connectionString").GetString());
    }

    public static DateTimeOffset UlidTime(string ulid)
    {
        const string alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        long ms = 0;
        foreach (var c in ulid[..10]) ms = (ms << 5) | (long)alphabet.IndexOf(c, StringComparison.Ordinal);
        return DateTimeOffset.FromUnixTimeMilliseconds(ms);
    }

    /// <summary>The whole body parsed; asserts the success envelope has exactly <c>ok</c> and <c>data</c>.</summary>
    public static async Task<JsonElement> SuccessAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var root = JsonDocument.Parse(body).RootElement;
        HasExactlyKeys(root, ["data", "ok"]);
        Assert.Equal(JsonValueKind.True, root.GetProperty("ok").ValueKind);
        return root.GetProperty("data").Clone();
    }

    /// <summary>Asserts the error envelope has exactly <c>ok</c>, <c>error</c>, <c>code</c>; returns the message.</summary>
    public static async Task<string> FailureAsync(HttpResponseMessage response, int status, string code)
    {
        var message = await ApiAssert.ErrorAsync(response, status, code);
        var root = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        HasExactlyKeys(root, ["code", "error", "ok"]);
        return message;
    }

    public static bool NoStore(HttpResponseMessage response) =>
        response.Headers.CacheControl?.NoStore == true;
}

/// <summary>Real-client helpers: run SQL with exactly a connection string and check it worked.</summary>
internal static class Tenant
{
    public static async Task<string> MustRunAsync(string connectionString, string sql)
    {
        var result = await Clients.SqlAsync(connectionString, sql);
        Assert.True(result.Ok, $"expected success for `{sql}`: {result}");
        return result.Output.Trim();
    }

    public static async Task<string> MustFailAsync(string connectionString, string sql)
    {
        var result = await Clients.SqlAsync(connectionString, sql);
        Assert.False(result.Ok, $"expected `{sql}` to be refused, but it ran: {result}");
        return result.Error;
    }

    /// <summary>Creates a table, inserts, selects: the "does this database really work" round trip.</summary>
    public static async Task ProveWorksAsync(string connectionString, string marker)
    {
        var output = await MustRunAsync(connectionString,
            $"CREATE TABLE proof (id INT PRIMARY KEY, body VARCHAR(64)); INSERT INTO proof VALUES (1, '{marker}'); SELECT body FROM proof WHERE id = 1;");
        Assert.Contains(marker, output);
    }
}

/// <summary>Sends a request that must be refused and proves it changed nothing for the account.</summary>
internal static class Refused
{
    public static async Task<string> AssertAsync(HepDbApp app, TestAccount account, HttpRequestMessage request, int status, string code, HttpClient? client = null)
    {
        var before = await Footprint.OfAsync(app, account);
        var message = await Shape.FailureAsync(await (client ?? account.Api).SendAsync(request), status, code);
        Assert.Equal(before, await Footprint.OfAsync(app, account));
        return message;
    }
}

using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using HepDb.Hosting;
using static HepDb.Engines.TenantNames;

namespace HepDb.Engines.Mongo;

/// <summary>
/// MongoDB tenants (notes/engine-isolation.md §3). The one user lives in <c>admin</c> with <c>readWrite</c> +
/// <c>dbAdmin</c> on the tenant database only: never <c>dbOwner</c> (it includes <c>userAdmin</c>, which would let the
/// tenant mint users that survive lock and rotation), never anything on another database. SCRAM-SHA-256 only.
/// <para>MongoDB has no account lock, no storage quota and no per-user connection limit, so:
/// lock = no roles + an unknown random password + kill the user's sessions; over quota = swap to <c>read</c> + a
/// cleanup role (find/remove/drop, no insert/update/create); connection limit = not enforced by the server
/// (docs/engines-mongo.md says what is and is not guaranteed).</para>
/// </summary>
public sealed class MongoAdapter(EngineServerOptions server) : IEngineAdapter
{
    /// <summary>The role created in each tenant database for the over-quota state, next to the built-in <c>read</c>.</summary>
    public const string CleanupRole = "hepdbQuotaCleanup";

    /// <summary>What the cleanup role adds to <c>read</c>: removing documents, dropping collections, indexes or the whole
    /// database, and <c>compact</c> (WiredTiger keeps deleted space until compact or drop, and sizes are measured on
    /// disk). Nothing here inserts, updates or creates.</summary>
    public static readonly string[] CleanupActions = ["remove", "dropCollection", "dropIndex", "dropDatabase", "compact"];

    public const string Mechanism = "SCRAM-SHA-256";

    /// <summary>Server error codes this adapter reacts to (mongo/src/mongo/base/error_codes.yml).</summary>
    public const int UserNotFound = 11;
    public const int RoleNotFound = 31;
    public const int UserAlreadyExists = 51003;
    public const int RoleAlreadyExists = 51002;
    /// <summary>What servers before 4.4 answered for an existing user or role.</summary>
    public const int DuplicateKey = 11000;

    public EngineKind Kind => EngineKind.Mongo;
    public EngineServerOptions Server { get; } = server;

    public Task<EngineProbe> ProbeAsync(CancellationToken ct) => Task.Run(() =>
    {
        var sw = Stopwatch.StartNew();
        try
        {
            using var s = Open(AdminEndpoint());
            var info = s.Run("admin", new JsonObject { ["buildInfo"] = 1 });
            return new EngineProbe(true, info["version"]?.ToString(), sw.Elapsed, null);
        }
        catch (MongoException e)
        {
            return new EngineProbe(false, null, sw.Elapsed, e.ServerMessage);
        }
    }, ct);

    /// <summary>createUser, or updateUser to exactly this password and roles when an earlier attempt already created it.
    /// The database itself needs no command: MongoDB creates it on the tenant's first write.</summary>
    public Task CreateTenantAsync(TenantSpec spec, CancellationToken ct) => Run(s =>
    {
        var user = Require(spec.User);
        var roles = NormalRoles(spec.DbName);
        try
        {
            s.Run("admin", new JsonObject
            {
                ["createUser"] = user,
                ["pwd"] = spec.Password,
                ["roles"] = roles,
                ["mechanisms"] = Mechanisms(),
            });
        }
        catch (MongoException e) when (e.IsServerError && e.Code is UserAlreadyExists or DuplicateKey)
        {
            s.Run("admin", UpdateUser(user, spec.Password, NormalRoles(spec.DbName)));
        }
    }, ct);

    /// <summary>dropUser first, so no new login succeeds and open connections are logged out at their next operation;
    /// then the user's in-flight operations and cursors are killed; then the database and anything defined inside it
    /// (dropDatabase leaves roles and users defined in that database behind).</summary>
    public Task DropTenantAsync(string dbName, string user, CancellationToken ct) => Run(s =>
    {
        Require(dbName);
        Require(user);
        try
        {
            s.Run("admin", new JsonObject { ["dropUser"] = user });
        }
        catch (MongoException e) when (e.IsServerError && e.Code == UserNotFound)
        {
        }
        KillSessions(s, user);
        s.Run(dbName, new JsonObject { ["dropDatabase"] = 1 });
        s.Run(dbName, new JsonObject { ["dropAllRolesFromDatabase"] = 1 });
        s.Run(dbName, new JsonObject { ["dropAllUsersFromDatabase"] = 1 });
    }, ct);

    /// <summary>New logins need the new password at once; connections already authenticated stay so (MongoDB does not
    /// re-authenticate them).</summary>
    public Task SetPasswordAsync(string user, string password, CancellationToken ct) => Run(s =>
        s.Run("admin", new JsonObject
        {
            ["updateUser"] = Require(user),
            ["pwd"] = password,
            ["mechanisms"] = Mechanisms(),
        }), ct);

    /// <summary>Deliberately a no-op that does not contact the server: MongoDB has no per-user connection limit, and HepDb
    /// stores the tier's limit in its own metadata. Counting connections per user and reacting (watcher side) is later
    /// work; see docs/engines-mongo.md.</summary>
    public Task SetConnectionLimitAsync(TenantSpec spec, CancellationToken ct) => Task.CompletedTask;

    /// <summary>No roles and a random password nobody knows (not stored), then the user's sessions are killed. Open
    /// connections stay authenticated but hold no privileges from their next operation on.</summary>
    public Task LockAsync(TenantSpec spec, CancellationToken ct) => Run(s =>
    {
        var user = Require(spec.User);
        s.Run("admin", UpdateUser(user, UnknownPassword(), []));
        KillSessions(s, user);
    }, ct);

    /// <summary>Restores the stored password and exactly the roles the state calls for.</summary>
    public Task UnlockAsync(TenantSpec spec, bool writesBlocked, CancellationToken ct) => Run(s =>
    {
        var user = Require(spec.User);
        if (writesBlocked) EnsureCleanupRole(s, spec.DbName);
        s.Run("admin", UpdateUser(user, spec.Password, writesBlocked ? BlockedRoles(spec.DbName) : NormalRoles(spec.DbName)));
    }, ct);

    /// <summary>Swaps roles (the password is left alone). Role changes reach open connections at their next operation;
    /// the kill ends in-flight operations and cursors started under the old roles. The tenant holds no userAdmin, so
    /// it cannot grant itself anything back. Must not be called on a locked user (it would give the roles back);
    /// <see cref="UnlockAsync"/> takes the over-quota state instead.</summary>
    public Task SetWritesBlockedAsync(TenantSpec spec, bool blocked, CancellationToken ct) => Run(s =>
    {
        var user = Require(spec.User);
        if (blocked) EnsureCleanupRole(s, spec.DbName);
        s.Run("admin", new JsonObject
        {
            ["updateUser"] = user,
            ["roles"] = blocked ? BlockedRoles(spec.DbName) : NormalRoles(spec.DbName),
        });
        if (blocked) KillSessions(s, user);
    }, ct);

    /// <summary>One <c>listDatabases</c> per server, filtered on the server to HepDb's prefix. <c>sizeOnDisk</c> is the
    /// storage size (compressed, and it does not shrink when documents are deleted until compact or drop).</summary>
    public Task<SizeScan> MeasureSizesAsync(CancellationToken ct) => Run(s =>
    {
        var reply = s.Run("admin", ListDatabases(nameOnly: false));
        var sizes = new Dictionary<string, long>();
        foreach (var db in TenantDatabases(reply))
            sizes[db["name"]!.GetValue<string>()] = ReadLong(db["sizeOnDisk"]);
        return new SizeScan(sizes, 1);
    }, ct);

    public Task<TenantObjects> ListTenantObjectsAsync(CancellationToken ct) => Run(s =>
    {
        var dbs = TenantDatabases(s.Run("admin", ListDatabases(nameOnly: true)))
            .Select(d => d["name"]!.GetValue<string>()).ToList();
        var users = (s.Run("admin", new JsonObject { ["usersInfo"] = 1 })["users"] as JsonArray ?? [])
            .OfType<JsonObject>()
            .Where(u => u["db"]?.ToString() == "admin")
            .Select(u => u["user"]?.ToString() ?? "")
            .Where(IsTenantName("du"))
            .ToList();
        return new TenantObjects(dbs, users);
    }, ct);

    /// <summary>
    /// Runs a MongoDB command as the tenant (authSource=admin, SCRAM-SHA-256) on <paramref name="dbName"/>.
    /// <paramref name="sql"/> is the command document as JSON, e.g. <c>{"ping":1}</c> or <c>{"find":"c","filter":{}}</c>.
    /// Returns, for cursor commands (find, aggregate, listCollections), the first document of the first batch as relaxed
    /// extended JSON or null when empty; for write commands the <c>n</c> count; otherwise the whole reply as JSON.
    /// A refused login is an <see cref="EngineCommandException"/> with code 18 (AuthenticationFailed).
    /// </summary>
    public Task<string?> ScalarAsTenantAsync(string dbName, string user, string password, string sql, CancellationToken ct) =>
        Task.Run(() =>
        {
            try
            {
                using var s = MongoClientSession.Open(new MongoEndpoint(Server.Host, Server.Port, user, password, Server.ConnectTimeout)
                {
                    Mechanism = Mechanism,
                });
                return ScalarFromReply(s.RunJson(Require(dbName), sql));
            }
            catch (MongoException e)
            {
                throw Translate(e);
            }
        }, ct);

    /// <summary>See <see cref="ScalarAsTenantAsync"/>. A write command that answered ok:1 with per-document
    /// <c>writeErrors</c> (e.g. a duplicate key) is a refusal too, with the first error's code.</summary>
    internal static string? ScalarFromReply(JsonObject reply)
    {
        if (reply["writeErrors"] is JsonArray { Count: > 0 } errors && errors[0] is JsonObject first)
            throw new EngineCommandException(EngineKind.Mongo, first["code"]?.ToString() ?? "?", first["errmsg"]?.ToString() ?? "write error");
        if (reply["cursor"]?["firstBatch"] is JsonArray batch)
            return batch.Count > 0 ? batch[0]?.ToJsonString() : null;
        if (reply["n"] is JsonValue n) return n.ToJsonString();
        return reply.ToJsonString();
    }

    /// <summary><c>mongodb://USER:PASSWORD@HOST:PORT/DBNAME?authSource=admin</c> (SPEC §2). Passwords are [A-Za-z0-9] and
    /// names [a-z0-9_], so nothing needs percent-encoding.</summary>
    public string ConnectionString(string dbName, string user, string password) =>
        $"mongodb://{user}:{password}@{Server.EffectivePublicHost}:{Server.EffectivePublicPort}/{dbName}?authSource=admin"
        + (string.IsNullOrEmpty(Server.ConnectionStringParameters) ? "" : "&" + Server.ConnectionStringParameters.TrimStart('&', '?'));

    /// <summary>
    /// For a private local <c>mongod --auth</c> (LocalEngineServers): makes sure the admin user exists with the configured
    /// password. If the admin login already works nothing is sent; otherwise the user is created with <c>root</c> on
    /// <c>admin</c> through MongoDB's localhost exception, which allows exactly one unauthenticated createUser on a
    /// server that has no users yet. On a server that already has users this fails (Unauthorized), as it should.
    /// </summary>
    public static Task EnsureLocalAdminAsync(EngineServerOptions server, CancellationToken ct) => Task.Run(() =>
    {
        var adapter = new MongoAdapter(server);
        var admin = adapter.AdminEndpoint();
        if (admin.User is null) return;
        try
        {
            using var _ = Open(admin);
            return;
        }
        catch (MongoException e) when (e.IsAuthenticationFailure)
        {
        }
        try
        {
            using var s = Open(admin with { User = null, Password = null });
            s.Run("admin", new JsonObject
            {
                ["createUser"] = admin.User,
                ["pwd"] = admin.Password,
                ["roles"] = new JsonArray(new JsonObject { ["role"] = "root", ["db"] = "admin" }),
                ["mechanisms"] = Mechanisms(),
            });
        }
        catch (MongoException e)
        {
            throw adapter.Translate(e);
        }
    }, ct);

    internal static JsonArray NormalRoles(string db) =>
    [
        new JsonObject { ["role"] = "readWrite", ["db"] = Require(db) },
        new JsonObject { ["role"] = "dbAdmin", ["db"] = db },
    ];

    internal static JsonArray BlockedRoles(string db) =>
    [
        new JsonObject { ["role"] = "read", ["db"] = Require(db) },
        new JsonObject { ["role"] = CleanupRole, ["db"] = db },
    ];

    private static JsonArray Mechanisms() => [Mechanism];

    private static JsonObject UpdateUser(string user, string password, JsonArray roles) => new()
    {
        ["updateUser"] = user,
        ["pwd"] = password,
        ["roles"] = roles,
        ["mechanisms"] = Mechanisms(),
    };

    /// <summary>The cleanup role lives in the tenant database, so it can only ever name that database. Created when
    /// first needed (createRole, or updateRole to converge an existing one to exactly these privileges).</summary>
    private static void EnsureCleanupRole(MongoClientSession s, string db)
    {
        Require(db);
        JsonArray Privileges() =>
        [
            new JsonObject
            {
                ["resource"] = new JsonObject { ["db"] = db, ["collection"] = "" },
                ["actions"] = new JsonArray(CleanupActions.Select(a => (JsonNode)JsonValue.Create(a)).ToArray()),
            },
        ];
        try
        {
            s.Run(db, new JsonObject { ["createRole"] = CleanupRole, ["privileges"] = Privileges(), ["roles"] = new JsonArray() });
        }
        catch (MongoException e) when (e.IsServerError && e.Code is RoleAlreadyExists or DuplicateKey)
        {
            s.Run(db, new JsonObject { ["updateRole"] = CleanupRole, ["privileges"] = Privileges(), ["roles"] = new JsonArray() });
        }
    }

    /// <summary>Ends the user's in-flight operations and cursors. It does not close connections (MongoDB cannot), which is
    /// why lock and over-quota rely on role changes that apply to open connections.</summary>
    private static void KillSessions(MongoClientSession s, string user) =>
        s.Run("admin", new JsonObject
        {
            ["killAllSessionsByPattern"] = new JsonArray(new JsonObject
            {
                ["users"] = new JsonArray(new JsonObject { ["user"] = user, ["db"] = "admin" }),
            }),
        });

    private static JsonObject ListDatabases(bool nameOnly) => new()
    {
        ["listDatabases"] = 1,
        ["nameOnly"] = nameOnly,
        ["filter"] = new JsonObject
        {
            ["name"] = new JsonObject
            {
                ["$regularExpression"] = new JsonObject { ["pattern"] = $"^u{EngineKind.Mongo.NameLetter()}_", ["options"] = "" },
            },
        },
    };

    private static IEnumerable<JsonObject> TenantDatabases(JsonObject reply) =>
        (reply["databases"] as JsonArray ?? []).OfType<JsonObject>()
            .Where(d => d["name"] is JsonValue v && v.TryGetValue<string>(out var name) && IsTenantName("u")(name));

    private static Func<string, bool> IsTenantName(string prefix) => name =>
        name.StartsWith($"{prefix}{EngineKind.Mongo.NameLetter()}_", StringComparison.Ordinal) && Pattern().IsMatch(name);

    /// <summary>Sizes arrive as int32, int64 or double depending on server version and magnitude.</summary>
    private static long ReadLong(JsonNode? node) => node switch
    {
        JsonValue v when v.TryGetValue<long>(out var l) => l,
        JsonValue v when v.TryGetValue<double>(out var d) => (long)d,
        JsonObject o when o["$numberLong"] is { } s => long.Parse(s.ToString()),
        _ => 0,
    };

    /// <summary>64 random bytes as hex: long enough that nobody can guess it, and never stored or logged.</summary>
    private static string UnknownPassword() => Convert.ToHexString(RandomNumberGenerator.GetBytes(64));

    private MongoEndpoint AdminEndpoint() =>
        new(Server.Host, Server.Port, string.IsNullOrEmpty(Server.AdminPassword) ? null : Server.AdminUser ?? "hepdb_admin",
            Server.AdminPassword, Server.ConnectTimeout);

    private static MongoClientSession Open(MongoEndpoint endpoint) => MongoClientSession.Open(endpoint);

    private Exception Translate(MongoException e) => e.IsUnreachable
        ? new EngineUnavailableException(Kind, e.ServerMessage, e)
        : e.IsAuthenticationFailure
            ? new EngineCommandException(Kind, "18", "authentication failed: " + e.ServerMessage, e)
            : new EngineCommandException(Kind, e.Code.ToString(), e.ServerMessage, e);

    private Task Run(Action<MongoClientSession> work, CancellationToken ct) => Run<object?>(s => { work(s); return null; }, ct);

    /// <summary>Opens the admin session (a failure there changed nothing: <c>beforeAnyChange</c>, including a refused
    /// admin login, which is a deployment problem the API reports as ENGINE_UNAVAILABLE), then runs the work and maps
    /// driver errors to the seam's exceptions.</summary>
    private Task<T> Run<T>(Func<MongoClientSession, T> work, CancellationToken ct) => Task.Run(() =>
    {
        MongoClientSession s;
        try
        {
            s = Open(AdminEndpoint());
        }
        catch (MongoException e)
        {
            var why = e.IsAuthenticationFailure ? "the admin login was refused: " + e.ServerMessage : e.ServerMessage;
            throw new EngineUnavailableException(Kind, why, e, beforeAnyChange: true);
        }
        using var _ = s;
        try
        {
            return work(s);
        }
        catch (MongoException e)
        {
            throw Translate(e);
        }
    }, ct);
}

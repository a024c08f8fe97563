using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using HepDb.Hosting;
using MongoDB.Bson;
using MongoDB.Bson.IO;
using MongoDB.Driver;
using static HepDb.Engines.TenantNames;

namespace HepDb.Engines.Mongo;

/// <summary>
/// MongoDB tenants (notes/engine-isolation.md §3), over the official MongoDB.Driver. The one user lives in <c>admin</c>
/// with <c>readWrite</c> + <c>dbAdmin</c> on the tenant database only: never <c>dbOwner</c> (it includes
/// <c>userAdmin</c>, which would let the tenant mint users that survive lock and rotation), never anything on another
/// database. SCRAM-SHA-256 only.
/// <para>MongoDB has no account lock, no storage quota and no per-user connection limit, so:
/// lock = no roles + an unknown random password + kill the user's sessions; over quota = swap to <c>read</c> + a
/// cleanup role (find/remove/drop, no insert/update/create); connection limit = counted by the quota watcher with
/// <c>$currentOp</c> and enforced approximately (<see cref="EnforceConnectionLimitsAsync"/>; docs/engines-mongo.md says
/// what is and is not guaranteed).</para>
/// <para>One long-lived <see cref="MongoClient"/> per adapter (so per server) does all admin work: the driver pools
/// connections, monitors the server in the background and is thread-safe, so an operation costs no new connect,
/// handshake or login. It is created on first use, so an adapter that never talks to its server opens nothing.
/// The driver's logging is left off (no <c>LoggingSettings</c>), so command bodies, which carry passwords in
/// createUser/updateUser, are never logged; HepDb itself never logs command documents either.</para>
/// </summary>
public sealed class MongoAdapter : IEngineAdapter, IAsyncDisposable
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

    /// <summary>AuthenticationFailed: what <see cref="ScalarAsTenantAsync"/> reports for a refused tenant login, as the
    /// server does (the driver's <see cref="MongoAuthenticationException"/> does not carry the code itself).</summary>
    public const string AuthenticationFailed = "18";

    private static readonly JsonWriterSettings RelaxedJson = new() { OutputMode = JsonOutputMode.RelaxedExtendedJson };

    private readonly Lazy<MongoClient> _admin;

    public MongoAdapter(EngineServerOptions server)
    {
        Server = server;
        _admin = new Lazy<MongoClient>(() => Connect(AdminCredential()));
    }

    public EngineKind Kind => EngineKind.Mongo;
    public EngineServerOptions Server { get; }

    public async Task<EngineProbe> ProbeAsync(CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        try
        {
            var info = await _admin.Value.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument("buildInfo", 1), cancellationToken: ct);
            return new EngineProbe(true, info.TryGetValue("version", out var version) ? version.ToString() : null, sw.Elapsed, null);
        }
        catch (Exception e) when (e is MongoException or TimeoutException)
        {
            return new EngineProbe(false, null, sw.Elapsed, Describe(e));
        }
    }

    /// <summary>createUser, or updateUser to exactly this password and roles when an earlier attempt already created it.
    /// The database itself needs no command: MongoDB creates it on the tenant's first write.</summary>
    public Task CreateTenantAsync(TenantSpec spec, CancellationToken ct) => AdminAsync(async run =>
    {
        var user = Require(spec.User);
        try
        {
            await run("admin", new BsonDocument
            {
                { "createUser", user },
                { "pwd", spec.Password },
                { "roles", NormalRoles(spec.DbName) },
                { "mechanisms", Mechanisms() },
            });
        }
        catch (MongoCommandException e) when (e.Code is UserAlreadyExists or DuplicateKey)
        {
            await run("admin", UpdateUser(user, spec.Password, NormalRoles(spec.DbName)));
        }
    }, ct);

    /// <summary>dropUser first, so no new login succeeds and open connections are logged out at their next operation;
    /// then the user's in-flight operations and cursors are killed; then the database and anything defined inside it
    /// (dropDatabase leaves roles and users defined in that database behind).</summary>
    public Task DropTenantAsync(string dbName, string user, CancellationToken ct) => AdminAsync(async run =>
    {
        Require(dbName);
        Require(user);
        try
        {
            await run("admin", new BsonDocument("dropUser", user));
        }
        catch (MongoCommandException e) when (e.Code == UserNotFound)
        {
        }
        await run("admin", KillSessions(user));
        await run(dbName, new BsonDocument("dropDatabase", 1));
        await run(dbName, new BsonDocument("dropAllRolesFromDatabase", 1));
        await run(dbName, new BsonDocument("dropAllUsersFromDatabase", 1));
    }, ct);

    /// <summary>New logins need the new password at once; connections already authenticated stay so (MongoDB does not
    /// re-authenticate them).</summary>
    public Task SetPasswordAsync(string user, string password, CancellationToken ct) => AdminAsync(run =>
        run("admin", new BsonDocument
        {
            { "updateUser", Require(user) },
            { "pwd", password },
            { "mechanisms", Mechanisms() },
        }), ct);

    /// <summary>MongoDB's own per-user rule: <c>authenticationRestrictions</c> with the allowed ranges as
    /// <c>clientSource</c> (an empty list lifts it). Open connections stay authenticated, so the user's sessions are
    /// ended as well.</summary>
    public Task SetAllowlistAsync(TenantSpec spec, IReadOnlyList<System.Net.IPNetwork> cidrs, CancellationToken ct) => AdminAsync(async run =>
    {
        var restrictions = cidrs.Count == 0
            ? new BsonArray()
            : new BsonArray { new BsonDocument("clientSource", new BsonArray(cidrs.Select(c => c.ToString()))) };
        await run("admin", new BsonDocument { { "updateUser", Require(spec.User) }, { "authenticationRestrictions", restrictions } });
        await run("admin", KillSessions(spec.User));
    }, ct);

    /// <summary>Deliberately a no-op that does not contact the server: MongoDB has no per-user connection limit to set.
    /// The tier's limit lives in HepDb's metadata and the quota watcher enforces it with
    /// <see cref="EnforceConnectionLimitsAsync"/>.</summary>
    public Task SetConnectionLimitAsync(TenantSpec spec, CancellationToken ct) => Task.CompletedTask;

    /// <summary>MongoDB has no per-user connection limit of its own, so the quota watcher enforces it.</summary>
    public bool EnforcesConnectionLimitsNatively => false;

    /// <summary>
    /// Counts each tenant user's connections with one <c>$currentOp</c> aggregation (all users, idle connections too,
    /// grouped by effective user) and, for a user over its limit, kills the in-flight operation of each connection beyond
    /// the limit (newest connections first: the ones opened last are the excess). Returns the number of operations killed.
    /// <para>This is approximate, and the most MongoDB allows: the server cannot close a client connection, so an idle
    /// excess connection is counted but stays open, and a killed operation's connection stays open too (the client gets
    /// error 11601 Interrupted). See docs/engines-mongo.md.</para>
    /// </summary>
    public Task<int> EnforceConnectionLimitsAsync(IReadOnlyDictionary<string, int> limitByUser, CancellationToken ct) =>
        limitByUser.Count == 0 ? Task.FromResult(0) : AdminAsync(async run =>
        {
            var ended = 0;
            foreach (var user in await ConnectionsByUserAsync(ct))
            {
                if (!limitByUser.TryGetValue(user.User, out var limit) || user.Connections.Count <= limit) continue;
                var excess = user.Connections.Keys.OrderDescending().Take(user.Connections.Count - limit);
                foreach (var opId in excess.Select(c => user.Connections[c]).OfType<BsonValue>())
                {
                    // The operation may have finished in between: killOp of an unknown opid still answers ok.
                    await run("admin", new BsonDocument { { "killOp", 1 }, { "op", opId } });
                    ended++;
                }
            }
            return ended;
        }, ct);

    /// <summary>The same <c>$currentOp</c> count as <see cref="EnforceConnectionLimitsAsync"/>, kept to the named users.</summary>
    public Task<IReadOnlyDictionary<string, int>> CountConnectionsAsync(IReadOnlyCollection<string> users, CancellationToken ct) =>
        users.Count == 0 ? Task.FromResult<IReadOnlyDictionary<string, int>>(new Dictionary<string, int>()) : AdminAsync(async _ =>
        {
            var wanted = users.ToHashSet(StringComparer.Ordinal);
            return (IReadOnlyDictionary<string, int>)(await ConnectionsByUserAsync(ct)).Where(u => wanted.Contains(u.User))
                .ToDictionary(u => u.User, u => u.Connections.Count);
        }, ct);

    /// <summary>One tenant user's connections to this server: connection id → the opid of its in-flight operation, or
    /// null when the connection is idle.</summary>
    internal sealed record UserConnections(string User, IReadOnlyDictionary<long, BsonValue?> Connections);

    /// <summary>The <c>$currentOp</c> aggregation behind <see cref="EnforceConnectionLimitsAsync"/>, run on <c>admin</c>
    /// (needs the <c>inprog</c> privilege). Only users logged in to <c>admin</c> with HepDb's tenant naming are kept, on
    /// the server. Monitoring sockets of drivers never authenticate, so they carry no effective user and are not counted.</summary>
    internal async Task<IReadOnlyList<UserConnections>> ConnectionsByUserAsync(CancellationToken ct)
    {
        BsonDocument[] pipeline =
        [
            new("$currentOp", new BsonDocument { { "allUsers", true }, { "idleConnections", true }, { "idleSessions", false } }),
            new("$unwind", "$effectiveUsers"),
            new("$match", new BsonDocument
            {
                { "effectiveUsers.db", "admin" },
                { "effectiveUsers.user", new BsonRegularExpression($"^du{EngineKind.Mongo.NameLetter()}_") },
            }),
            new("$group", new BsonDocument
            {
                { "_id", "$effectiveUsers.user" },
                { "ops", new BsonDocument("$push", new BsonDocument { { "connectionId", "$connectionId" }, { "opid", "$opid" }, { "active", "$active" } }) },
            }),
        ];
        var cursor = await _admin.Value.GetDatabase("admin")
            .AggregateAsync(PipelineDefinition<NoPipelineInput, BsonDocument>.Create(pipeline), cancellationToken: ct);
        var users = new List<UserConnections>();
        foreach (var group in await cursor.ToListAsync(ct))
        {
            var connections = new Dictionary<long, BsonValue?>();
            foreach (var op in group["ops"].AsBsonArray.OfType<BsonDocument>())
            {
                if (!op.TryGetValue("connectionId", out var id) || !id.IsNumeric) continue;
                var active = op.GetValue("active", false).ToBoolean() && op.TryGetValue("opid", out var opId) ? opId : null;
                var key = id.ToInt64();
                connections[key] = connections.GetValueOrDefault(key) ?? active;
            }
            users.Add(new UserConnections(group["_id"].AsString, connections));
        }
        return users;
    }

    /// <summary>No roles and a random password nobody knows (not stored), then the user's sessions are killed. Open
    /// connections stay authenticated but hold no privileges from their next operation on.</summary>
    public Task LockAsync(TenantSpec spec, CancellationToken ct) => AdminAsync(async run =>
    {
        var user = Require(spec.User);
        await run("admin", UpdateUser(user, UnknownPassword(), []));
        await run("admin", KillSessions(user));
    }, ct);

    /// <summary>Restores the stored password and exactly the roles the state calls for.</summary>
    public Task UnlockAsync(TenantSpec spec, bool writesBlocked, CancellationToken ct) => AdminAsync(async run =>
    {
        var user = Require(spec.User);
        if (writesBlocked) await EnsureCleanupRoleAsync(run, spec.DbName);
        await run("admin", UpdateUser(user, spec.Password, writesBlocked ? BlockedRoles(spec.DbName) : NormalRoles(spec.DbName)));
    }, ct);

    /// <summary>Swaps roles (the password is left alone). Role changes reach open connections at their next operation;
    /// the kill ends in-flight operations and cursors started under the old roles. The tenant holds no userAdmin, so
    /// it cannot grant itself anything back. Must not be called on a locked user (it would give the roles back);
    /// <see cref="UnlockAsync"/> takes the over-quota state instead.</summary>
    public Task SetWritesBlockedAsync(TenantSpec spec, bool blocked, CancellationToken ct) => AdminAsync(async run =>
    {
        var user = Require(spec.User);
        if (blocked) await EnsureCleanupRoleAsync(run, spec.DbName);
        await run("admin", new BsonDocument
        {
            { "updateUser", user },
            { "roles", blocked ? BlockedRoles(spec.DbName) : NormalRoles(spec.DbName) },
        });
        if (blocked) await run("admin", KillSessions(user));
    }, ct);

    /// <summary>One <c>listDatabases</c> per server, filtered on the server to HepDb's prefix. <c>sizeOnDisk</c> is the
    /// storage size (compressed, and it does not shrink when documents are deleted until compact or drop).</summary>
    public Task<SizeScan> MeasureSizesAsync(IReadOnlyCollection<string> dbNames, CancellationToken ct) => AdminAsync(async run =>
    {
        // listDatabases reports every size in one reply; the names this store knows are picked from it.
        var sizes = new Dictionary<string, long>();
        var wanted = dbNames.ToHashSet(StringComparer.Ordinal);
        foreach (var db in TenantDatabases(await run("admin", ListDatabases(nameOnly: false))).Where(d => wanted.Contains(d["name"].AsString)))
            sizes[db["name"].AsString] = db.GetValue("sizeOnDisk", 0).IsNumeric ? db["sizeOnDisk"].ToInt64() : 0;
        return new SizeScan(sizes, 1);
    }, ct);

    public Task<TenantObjects> ListTenantObjectsAsync(CancellationToken ct) => AdminAsync(async run =>
    {
        var dbs = TenantDatabases(await run("admin", ListDatabases(nameOnly: true))).Select(d => d["name"].AsString).ToList();
        var users = (await run("admin", new BsonDocument("usersInfo", 1))).GetValue("users", new BsonArray()).AsBsonArray
            .OfType<BsonDocument>()
            .Where(u => u.GetValue("db", "").ToString() == "admin")
            .Select(u => u.GetValue("user", "").ToString()!)
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
    /// <para>A short-lived client of its own: tenant logins are rare (health checks, tests), and a pooled client per
    /// tenant would keep authenticated tenant connections open after a lock or rotation.</para>
    /// </summary>
    public async Task<string?> ScalarAsTenantAsync(string dbName, string user, string password, string sql, CancellationToken ct)
    {
        var command = BsonDocument.Parse(sql);
        Require(dbName);
        using var client = new OwnedClient(this, new MongoCredential(Mechanism, new MongoInternalIdentity("admin", user), new PasswordEvidence(password)));
        try
        {
            return ScalarFromReply(await client.Client.GetDatabase(dbName).RunCommandAsync<BsonDocument>(command, cancellationToken: ct));
        }
        catch (MongoAuthenticationException e)
        {
            throw new EngineCommandException(Kind, AuthenticationFailed, "authentication failed: " + e.Message, e);
        }
        catch (Exception e) when (e is MongoException or TimeoutException)
        {
            throw Translate(e, beforeAnyChange: false);
        }
    }

    /// <summary>See <see cref="ScalarAsTenantAsync"/>. A write command that answered ok:1 with per-document
    /// <c>writeErrors</c> (e.g. a duplicate key) is a refusal too, with the first error's code.</summary>
    internal static string? ScalarFromReply(BsonDocument reply)
    {
        if (reply.TryGetValue("writeErrors", out var errors) && errors is BsonArray { Count: > 0 } list && list[0] is BsonDocument first)
            throw new EngineCommandException(EngineKind.Mongo, first.GetValue("code", "?").ToString()!, first.GetValue("errmsg", "write error").ToString()!);
        if (reply.TryGetValue("cursor", out var cursor) && cursor is BsonDocument c && c.TryGetValue("firstBatch", out var batch) && batch is BsonArray docs)
            return docs.Count > 0 && docs[0] is BsonDocument d ? Json(d) : null;
        if (reply.TryGetValue("n", out var n) && n.IsNumeric) return n.ToInt64().ToString(CultureInfo.InvariantCulture);
        return Json(reply);
    }

    /// <summary>Compact relaxed extended JSON, the form tests and health checks compare.</summary>
    private static string Json(BsonDocument doc) => JsonNode.Parse(doc.ToJson(RelaxedJson))!.ToJsonString();

    /// <summary><c>mongodb://USER:PASSWORD@HOST:PORT/DBNAME?authSource=admin</c> (SPEC §2). Passwords are [A-Za-z0-9] and
    /// names [a-z0-9_], so nothing needs percent-encoding.</summary>
    public string ConnectionString(string dbName, string user, string password) =>
        $"mongodb://{user}:{password}@{Server.EffectivePublicHost}:{Server.EffectivePublicPort}/{dbName}" + Server.ConnectionQuery("tls=true", "authSource=admin");

    /// <summary>
    /// For a private local <c>mongod --auth</c> (LocalEngineServers): makes sure the admin user exists with the configured
    /// password. If the admin login already works nothing is sent; otherwise the user is created with <c>root</c> on
    /// <c>admin</c> through MongoDB's localhost exception, which allows exactly one unauthenticated createUser on a
    /// server that has no users yet. On a server that already has users this fails (Unauthorized), as it should.
    /// Both steps use short-lived clients: this runs once at start, before the registry's adapter exists.
    /// </summary>
    public static async Task EnsureLocalAdminAsync(EngineServerOptions server, CancellationToken ct)
    {
        await using var adapter = new MongoAdapter(server);
        var credential = adapter.AdminCredential();
        if (credential is null) return;
        try
        {
            using var admin = new OwnedClient(adapter, credential);
            await admin.Client.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument("ping", 1), cancellationToken: ct);
            return;
        }
        catch (MongoAuthenticationException)
        {
        }
        catch (Exception e) when (e is MongoException or TimeoutException)
        {
            throw adapter.Translate(e, beforeAnyChange: true);
        }
        try
        {
            using var anonymous = new OwnedClient(adapter, null);
            await anonymous.Client.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument
            {
                { "createUser", credential.Username },
                { "pwd", server.AdminPassword },
                { "roles", new BsonArray { new BsonDocument { { "role", "root" }, { "db", "admin" } } } },
                { "mechanisms", Mechanisms() },
            }, cancellationToken: ct);
        }
        catch (Exception e) when (e is MongoException or TimeoutException)
        {
            throw adapter.Translate(e, beforeAnyChange: false);
        }
    }

    internal static BsonArray NormalRoles(string db) =>
    [
        new BsonDocument { { "role", "readWrite" }, { "db", Require(db) } },
        new BsonDocument { { "role", "dbAdmin" }, { "db", db } },
    ];

    internal static BsonArray BlockedRoles(string db) =>
    [
        new BsonDocument { { "role", "read" }, { "db", Require(db) } },
        new BsonDocument { { "role", CleanupRole }, { "db", db } },
    ];

    private static BsonArray Mechanisms() => [Mechanism];

    private static BsonDocument UpdateUser(string user, string password, BsonArray roles) => new()
    {
        { "updateUser", user },
        { "pwd", password },
        { "roles", roles },
        { "mechanisms", Mechanisms() },
    };

    /// <summary>The cleanup role lives in the tenant database, so it can only ever name that database. Created when
    /// first needed (createRole, or updateRole to converge an existing one to exactly these privileges).</summary>
    private static async Task EnsureCleanupRoleAsync(RunCommand run, string db)
    {
        Require(db);
        BsonDocument Role(string verb) => new()
        {
            { verb, CleanupRole },
            { "privileges", new BsonArray
                {
                    new BsonDocument
                    {
                        { "resource", new BsonDocument { { "db", db }, { "collection", "" } } },
                        { "actions", new BsonArray(CleanupActions) },
                    },
                }
            },
            { "roles", new BsonArray() },
        };
        try
        {
            await run(db, Role("createRole"));
        }
        catch (MongoCommandException e) when (e.Code is RoleAlreadyExists or DuplicateKey)
        {
            await run(db, Role("updateRole"));
        }
    }

    /// <summary>Ends the user's in-flight operations and cursors. It does not close connections (MongoDB cannot), which is
    /// why lock and over-quota rely on role changes that apply to open connections.</summary>
    private static BsonDocument KillSessions(string user) =>
        new("killAllSessionsByPattern", new BsonArray
        {
            new BsonDocument("users", new BsonArray { new BsonDocument { { "user", user }, { "db", "admin" } } }),
        });

    private static BsonDocument ListDatabases(bool nameOnly) => new()
    {
        { "listDatabases", 1 },
        { "nameOnly", nameOnly },
        { "filter", new BsonDocument("name", new BsonRegularExpression($"^u{EngineKind.Mongo.NameLetter()}_")) },
    };

    private static IEnumerable<BsonDocument> TenantDatabases(BsonDocument reply) =>
        reply.GetValue("databases", new BsonArray()).AsBsonArray.OfType<BsonDocument>()
            .Where(d => d.TryGetValue("name", out var name) && name.IsString && IsTenantName("u")(name.AsString));

    private static Func<string, bool> IsTenantName(string prefix) => name =>
        name.StartsWith($"{prefix}{EngineKind.Mongo.NameLetter()}_", StringComparison.Ordinal) && Pattern().IsMatch(name);

    /// <summary>64 random bytes as hex: long enough that nobody can guess it, and never stored or logged.</summary>
    private static string UnknownPassword() => Convert.ToHexString(RandomNumberGenerator.GetBytes(64));

    /// <summary>The admin login, or none when no admin password is configured (a server without --auth).</summary>
    private MongoCredential? AdminCredential() => string.IsNullOrEmpty(Server.AdminPassword)
        ? null
        : MongoCredential.CreateCredential("admin", Server.AdminUser ?? "hepdb_admin", Server.AdminPassword);

    /// <summary>
    /// A client of this server. Credentials go in as a <see cref="MongoCredential"/>, never spliced into a URI, so nothing
    /// needs escaping. Server selection and connecting are both bounded by <c>ConnectTimeout</c>, so an unreachable server
    /// fails within that time instead of the driver's 30 s default.
    /// <para>The driver shares one cluster (monitor + pool) between clients with equal settings, and never disposes it
    /// with the client. A per-call configurator delegate makes the settings unique, so this client's cluster is its own
    /// and <see cref="Release"/> can dispose it without pulling it from under another adapter.</para>
    /// </summary>
    private MongoClient Connect(MongoCredential? credential)
    {
        var owner = new object();
        return new MongoClient(new MongoClientSettings
        {
            Server = new MongoServerAddress(Server.Host.Trim('[', ']'), Server.Port),
            Credential = credential,
            ApplicationName = "hepdb",
            ServerSelectionTimeout = Server.ConnectTimeout,
            UseTls = Server.EffectiveRequireTls,
            SslSettings = Server.EffectiveRequireTls && Server.CaCertificateFile is { } ca ? new SslSettings
            {
                ServerCertificateValidationCallback = (_, certificate, _, errors) => Security.CaTrust.Accepts(ca, certificate, errors),
            } : null,
            ConnectTimeout = Server.ConnectTimeout,
            // Admin commands such as dropDatabase can take a while on a busy server, but never minutes.
            SocketTimeout = Server.ConnectTimeout > TimeSpan.FromSeconds(30) ? Server.ConnectTimeout : TimeSpan.FromSeconds(30),
            ClusterConfigurator = _ => GC.KeepAlive(owner),
        });
    }

    private static void Release(MongoClient client)
    {
        ClusterRegistry.Instance.UnregisterAndDisposeCluster(client.Cluster);
        client.Dispose();
    }

    /// <summary>A short-lived client whose cluster (monitor thread, pooled connections) ends with it.</summary>
    private sealed class OwnedClient : IDisposable
    {
        public OwnedClient(MongoAdapter adapter, MongoCredential? credential) => Client = adapter.Connect(credential);
        public MongoClient Client { get; }
        public void Dispose() => Release(Client);
    }

    /// <summary>One admin command of an operation: runs it on the database and returns the server's reply.</summary>
    private delegate Task<BsonDocument> RunCommand(string database, BsonDocument command);

    private Task AdminAsync(Func<RunCommand, Task> work, CancellationToken ct) =>
        AdminAsync<object?>(async run => { await work(run); return null; }, ct);

    /// <summary>
    /// Runs one admin operation on the long-lived client and maps driver errors to the seam's exceptions.
    /// <c>BeforeAnyChange</c> is true only when no command of this operation has been answered yet and the failure proves
    /// the current one was never sent: no server could be selected (<see cref="TimeoutException"/>), the admin login
    /// was refused (a deployment problem the API reports as ENGINE_UNAVAILABLE), or the pool was paused after the server
    /// went away. A connection that breaks once a command is on the wire may have changed something.
    /// </summary>
    private async Task<T> AdminAsync<T>(Func<RunCommand, Task<T>> work, CancellationToken ct)
    {
        var answered = 0;
        async Task<BsonDocument> Run(string database, BsonDocument command)
        {
            var reply = await _admin.Value.GetDatabase(database).RunCommandAsync<BsonDocument>(command, cancellationToken: ct);
            answered++;
            return reply;
        }
        try
        {
            return await work(Run);
        }
        catch (MongoAuthenticationException e)
        {
            throw new EngineUnavailableException(Kind, "the admin login was refused: " + e.Message, e, beforeAnyChange: answered == 0);
        }
        catch (Exception e) when (e is MongoException or TimeoutException)
        {
            throw Translate(e, beforeAnyChange: answered == 0 && e is TimeoutException or MongoConnectionPoolPausedException);
        }
    }

    private Exception Translate(Exception e, bool beforeAnyChange) => e switch
    {
        MongoCommandException c => new EngineCommandException(Kind, c.Code.ToString(CultureInfo.InvariantCulture), c.ErrorMessage ?? c.Message, c),
        _ => new EngineUnavailableException(Kind, Describe(e), e, beforeAnyChange),
    };

    /// <summary>A short reason. The driver's server-selection timeout message carries a long cluster description (hosts and
    /// states, never credentials), which is kept on the inner exception for logs.</summary>
    private string Describe(Exception e) => e switch
    {
        TimeoutException => $"no server answered at {Server.Host}:{Server.Port} within {Server.ConnectTimeout.TotalSeconds:0.#} s",
        MongoCommandException c => c.ErrorMessage ?? c.Message,
        _ when e.InnerException is { } inner => $"{e.Message} {inner.Message}",
        _ => e.Message,
    };

    public ValueTask DisposeAsync()
    {
        if (_admin.IsValueCreated) Release(_admin.Value);
        return ValueTask.CompletedTask;
    }
}

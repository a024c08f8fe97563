using System.Security.Cryptography;
using HepDb.Engines;
using HepDb.Engines.Mongo;
using HepDb.Hosting;
using MongoDB.Bson;
using MongoDB.Driver;
using Xunit;

namespace HepDb.Tests.Mongo;

/// <summary>
/// The tenant lifecycle against a REAL mongod: the only tests that say anything about MongoDB's behaviour (privileges,
/// isolation, lock, over-quota, sizes, <c>$currentOp</c>). They run only when <c>HEPDB_TEST_MONGO_URI</c> holds an admin
/// URI, e.g. <c>mongodb://admin:pw@127.0.0.1:27017</c> for a user with the <c>root</c> role (defined in <c>admin</c>) on a
/// mongod started with <c>--auth</c>. Without it they are reported as SKIPPED with the reason, never as passed; a set but
/// unreachable URI makes them fail.
/// </summary>
public sealed class MongoRealServerTests : IAsyncLifetime
{
    public const string UriVariable = "HEPDB_TEST_MONGO_URI";

    private const string Unauthorized = "13";
    private const string AuthenticationFailed = MongoAdapter.AuthenticationFailed;

    private readonly List<TenantSpec> _tenants = [];
    private MongoAdapter? _adapter;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    /// <summary>Drops every tenant a test created, whatever happened in it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_adapter is null) return;
        foreach (var t in _tenants) await _adapter.DropTenantAsync(t.DbName, t.User, CancellationToken.None);
        await _adapter.DisposeAsync();
    }

    private static MongoUrl RequireUri()
    {
        var text = Environment.GetEnvironmentVariable(UriVariable);
        if (string.IsNullOrWhiteSpace(text))
            Assert.Skip($"No MongoDB server: set {UriVariable} to an admin URI (mongodb://USER:PASSWORD@HOST:PORT, a root user " +
                        "defined in admin on a mongod run with --auth) to run the real-server MongoDB tests.");
        return new MongoUrl(text);
    }

    private MongoAdapter Server()
    {
        var uri = RequireUri();
        return _adapter ??= new MongoAdapter(new EngineServerOptions
        {
            Local = false,
            Host = uri.Server.Host,
            Port = uri.Server.Port,
            AdminUser = uri.Username,
            AdminPassword = uri.Password,
            ConnectTimeout = TimeSpan.FromSeconds(5),
        });
    }

    private static string RandomSlug() =>
        string.Concat(RandomNumberGenerator.GetItems("abcdefghijklmnopqrstuvwxyz0123456789".AsSpan(), 10));

    private static string NewPassword() =>
        string.Concat(RandomNumberGenerator.GetItems("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".AsSpan(), 32));

    /// <summary>A new tenant, created on the server (twice: creation is idempotent) and dropped after the test.</summary>
    private async Task<TenantSpec> NewTenantAsync(string? slug = null, int slot = 1)
    {
        slug ??= RandomSlug();
        var t = new TenantSpec(TenantNames.DatabaseName(EngineKind.Mongo, slug, slot), TenantNames.UserName(EngineKind.Mongo, slug, slot), NewPassword(), 10);
        _tenants.Add(t);
        await Server().CreateTenantAsync(t, Ct);
        await Server().CreateTenantAsync(t, Ct);
        return t;
    }

    private Task<string?> As(TenantSpec t, string command, string? password = null, string? db = null) =>
        Server().ScalarAsTenantAsync(db ?? t.DbName, t.User, password ?? t.Password, command, Ct);

    private static async Task AssertRefused(string code, Func<Task> action) =>
        Assert.Equal(code, (await Assert.ThrowsAsync<EngineCommandException>(action)).Code);

    /// <summary>A pooled client logged in as the tenant, as an application would hold one. The driver shares one pool
    /// between clients with equal settings, so each gets its own application name to get its own pool.</summary>
    private static MongoClient TenantClient(TenantSpec t, int maxPoolSize, string name) => new(new MongoClientSettings
    {
        Server = RequireUri().Server,
        Credential = new MongoCredential(MongoAdapter.Mechanism, new MongoInternalIdentity("admin", t.User), new PasswordEvidence(t.Password)),
        MaxConnectionPoolSize = maxPoolSize,
        ServerSelectionTimeout = TimeSpan.FromSeconds(5),
        ApplicationName = name,
    });

    /// <summary>Disposes the client and its cluster (the driver keeps a disposed client's cluster otherwise).</summary>
    private static void Close(MongoClient client)
    {
        ClusterRegistry.Instance.UnregisterAndDisposeCluster(client.Cluster);
        client.Dispose();
    }

    [Fact]
    public async Task Probe_reports_the_server_version()
    {
        var probe = await Server().ProbeAsync(Ct);

        Assert.True(probe.Up, probe.Error);
        Assert.False(string.IsNullOrEmpty(probe.Version));
    }

    [Fact]
    public async Task Lifecycle_create_write_read_then_drop_leaves_no_user_and_no_database()
    {
        var t = await NewTenantAsync();

        Assert.Equal("1", await As(t, """{"insert":"c","documents":[{"_id":1,"v":"one"}]}"""));
        Assert.Contains("\"one\"", await As(t, """{"find":"c","filter":{"_id":1}}"""));
        // Index and collection administration a normal app needs (dbAdmin + readWrite).
        await As(t, """{"createIndexes":"c","indexes":[{"key":{"v":1},"name":"v_1"}]}""");
        var objects = await Server().ListTenantObjectsAsync(Ct);
        Assert.Contains(t.DbName, objects.Databases);
        Assert.Contains(t.User, objects.Users);

        // Drop (twice: idempotent): the login is gone, the database and user are no longer listed.
        await Server().DropTenantAsync(t.DbName, t.User, Ct);
        await Server().DropTenantAsync(t.DbName, t.User, Ct);
        await AssertRefused(AuthenticationFailed, () => As(t, """{"ping":1}"""));
        objects = await Server().ListTenantObjectsAsync(Ct);
        Assert.DoesNotContain(t.DbName, objects.Databases);
        Assert.DoesNotContain(t.User, objects.Users);
    }

    [Fact]
    public async Task Isolation_a_tenant_cannot_read_write_drop_or_list_another_tenants_database_nor_administer_users()
    {
        var slug = RandomSlug();
        var a = await NewTenantAsync(slug, 1);
        var b = await NewTenantAsync(slug, 2);
        Assert.Equal("1", await As(a, """{"insert":"c","documents":[{"_id":1,"v":"a"}]}"""));
        Assert.Equal("1", await As(b, """{"insert":"c","documents":[{"_id":1,"v":"b"}]}"""));

        await AssertRefused(Unauthorized, () => As(a, """{"find":"c","filter":{}}""", db: b.DbName));
        await AssertRefused(Unauthorized, () => As(a, """{"insert":"c","documents":[{"x":1}]}""", db: b.DbName));
        await AssertRefused(Unauthorized, () => As(a, """{"dropDatabase":1}""", db: b.DbName));
        await AssertRefused(Unauthorized, () => As(a, $$"""{"createUser":"x{{slug}}","pwd":"p","roles":[]}"""));
        await AssertRefused(Unauthorized, () => As(a, $$"""{"createUser":"x{{slug}}","pwd":"p","roles":[]}""", db: "admin"));
        await AssertRefused(Unauthorized, () => As(a, $$"""{"grantRolesToUser":"{{a.User}}","roles":["root"]}""", db: "admin"));
        var visible = await As(a, """{"listDatabases":1,"nameOnly":true}""", db: "admin");
        Assert.Contains(a.DbName, visible);
        Assert.DoesNotContain(b.DbName, visible);
        // Dropping one tenant leaves the other untouched.
        await Server().DropTenantAsync(a.DbName, a.User, Ct);
        Assert.Contains("\"b\"", await As(b, """{"find":"c","filter":{}}"""));
    }

    [Fact]
    public async Task Rotate_refuses_the_old_password_and_accepts_the_new_one_at_once()
    {
        var t = await NewTenantAsync();
        Assert.Equal("1", await As(t, """{"insert":"c","documents":[{"_id":1,"v":"one"}]}"""));

        var rotated = t with { Password = NewPassword() };
        await Server().SetPasswordAsync(t.User, rotated.Password, Ct);

        Assert.Contains("\"one\"", await As(rotated, """{"find":"c","filter":{}}"""));
        await AssertRefused(AuthenticationFailed, () => As(t, """{"ping":1}"""));
    }

    [Fact]
    public async Task Lock_refuses_the_stored_password_and_unlock_restores_login_and_writes()
    {
        var t = await NewTenantAsync();

        await Server().LockAsync(t, Ct);
        await AssertRefused(AuthenticationFailed, () => As(t, """{"ping":1}"""));

        await Server().UnlockAsync(t, writesBlocked: false, Ct);
        Assert.Equal("1", await As(t, """{"insert":"c","documents":[{"_id":2,"v":"after unlock"}]}"""));
    }

    [Fact]
    public async Task Over_quota_blocks_growing_writes_allows_reads_and_cleanup_and_unblock_restores_them()
    {
        var t = await NewTenantAsync();
        Assert.Equal("2", await As(t, """{"insert":"c","documents":[{"_id":1,"v":"one"},{"_id":2}]}"""));
        await As(t, """{"createIndexes":"c","indexes":[{"key":{"v":1},"name":"v_1"}]}""");

        await Server().SetWritesBlockedAsync(t, blocked: true, Ct);
        await AssertRefused(Unauthorized, () => As(t, """{"insert":"c","documents":[{"_id":3}]}"""));
        await AssertRefused(Unauthorized, () => As(t, """{"update":"c","updates":[{"q":{"_id":1},"u":{"$set":{"v":"x"}}}]}"""));
        await AssertRefused(Unauthorized, () => As(t, """{"createIndexes":"c","indexes":[{"key":{"w":1},"name":"w_1"}]}"""));
        await AssertRefused(Unauthorized, () => As(t, """{"create":"newcoll"}"""));
        Assert.Contains("\"one\"", await As(t, """{"find":"c","filter":{"_id":1}}"""));
        Assert.Equal("1", await As(t, """{"delete":"c","deletes":[{"q":{"_id":2},"limit":1}]}"""));
        await As(t, """{"dropIndexes":"c","index":"v_1"}""");
        // The tenant cannot undo the block: it holds no role that can grant roles.
        await AssertRefused(Unauthorized, () =>
            As(t, $$"""{"grantRolesToUser":"{{t.User}}","roles":[{"role":"readWrite","db":"{{t.DbName}}"}]}""", db: "admin"));

        // Suspended while over quota: unlock keeps writes blocked.
        await Server().LockAsync(t, Ct);
        await Server().UnlockAsync(t, writesBlocked: true, Ct);
        await AssertRefused(Unauthorized, () => As(t, """{"insert":"c","documents":[{"_id":4}]}"""));
        Assert.Contains("\"one\"", await As(t, """{"find":"c","filter":{"_id":1}}"""));

        // Back under quota: writes again; dropping a collection is allowed in both states.
        await Server().SetWritesBlockedAsync(t, blocked: false, Ct);
        Assert.Equal("1", await As(t, """{"insert":"c","documents":[{"_id":5}]}"""));
        Assert.Equal("1", await As(t, """{"update":"c","updates":[{"q":{"_id":1},"u":{"$set":{"v":"x"}}}]}"""));
        await As(t, """{"drop":"c"}""");
    }

    [Fact]
    public async Task Sizes_take_one_query_and_see_the_database_grow()
    {
        var t = await NewTenantAsync();
        Assert.Equal("1", await As(t, """{"insert":"c","documents":[{"_id":0}]}"""));
        var before = await Server().MeasureSizesAsync([t.DbName], Ct);
        Assert.Equal(1, before.Queries);
        Assert.True(before.Bytes.ContainsKey(t.DbName), $"no size for {t.DbName}");

        // About 8 MB of incompressible data, then a checkpoint so the storage size reflects it.
        var tenant = TenantClient(t, 2, "hepdb-test-sizes");
        var admin = new MongoClient(RequireUri());
        try
        {
            var c = tenant.GetDatabase(t.DbName).GetCollection<BsonDocument>("c");
            for (var i = 1; i <= 8; i++)
                await c.InsertOneAsync(new BsonDocument { { "_id", i }, { "blob", new BsonBinaryData(RandomNumberGenerator.GetBytes(1 << 20)) } }, cancellationToken: Ct);
            await admin.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument("fsync", 1), cancellationToken: Ct);
        }
        finally
        {
            Close(tenant);
            Close(admin);
        }

        var after = await Server().MeasureSizesAsync([t.DbName], Ct);
        Assert.True(after.Bytes[t.DbName] > before.Bytes[t.DbName] + (4 << 20), $"{before.Bytes[t.DbName]} → {after.Bytes[t.DbName]}");
    }

    [Fact]
    public async Task Connection_limit_counts_a_tenants_connections_and_kills_the_operations_of_the_excess()
    {
        const int limit = 2, extra = 2;
        var t = await NewTenantAsync();
        var clients = Enumerable.Range(0, limit + extra).Select(i => TenantClient(t, 1, $"hepdb-test-{i}")).ToList();
        try
        {
            // Every client opens its one pooled connection, which then sits idle. (The document gives $where below
            // something to run on; it goes through the first client so no other tenant connection exists.)
            await clients[0].GetDatabase(t.DbName).GetCollection<BsonDocument>("c").InsertOneAsync(new BsonDocument("_id", 1), cancellationToken: Ct);
            foreach (var client in clients)
                await client.GetDatabase(t.DbName).RunCommandAsync<BsonDocument>(new BsonDocument("ping", 1), cancellationToken: Ct);
            var counted = (await Server().ConnectionsByUserAsync(Ct)).Single(u => u.User == t.User);
            Assert.Equal(limit + extra, counted.Connections.Count); // idle connections are attributed to their user

            // Now each connection runs a slow operation (server-side JavaScript sleeping 5 s).
            var slow = clients.Select(client => client.GetDatabase(t.DbName).GetCollection<BsonDocument>("c")
                .Find(new BsonDocument("$where", "sleep(5000) || true")).ToListAsync(Ct)).ToList();
            await Task.Delay(1000, Ct);

            var ended = await Server().EnforceConnectionLimitsAsync(new Dictionary<string, int> { [t.User] = limit }, Ct);

            Assert.Equal(extra, ended);
            var outcomes = await Task.WhenAll(slow.Select(async s =>
            {
                try { await s; return "done"; }
                catch (MongoException e) { return e.Message; }
            }));
            Assert.Equal(extra, outcomes.Count(o => o != "done"));
            // Approximate: the killed operations' connections stay open (MongoDB cannot close them), and still count.
            Assert.Equal(limit + extra, (await Server().ConnectionsByUserAsync(Ct)).Single(u => u.User == t.User).Connections.Count);
        }
        finally
        {
            foreach (var client in clients) Close(client);
        }
    }
}

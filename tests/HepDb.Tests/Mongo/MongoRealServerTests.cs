using System.Security.Cryptography;
using HepDb.Engines;
using HepDb.Engines.Mongo;
using HepDb.Hosting;
using Xunit;

namespace HepDb.Tests.Mongo;

/// <summary>
/// The tenant lifecycle against a REAL mongod: the only tests that say anything about MongoDB's behaviour (privileges,
/// isolation, lock, over-quota). They run only when <c>HEPDB_TEST_MONGO_URI</c> holds an admin URI, e.g.
/// <c>mongodb://hepdb_admin:secret@127.0.0.1:27017/?authSource=admin</c> for a user with the <c>root</c> role on a mongod
/// started with <c>--auth</c>. Without it they are reported as SKIPPED with the reason, never as passed.
/// </summary>
public sealed class MongoRealServerTests
{
    public const string UriVariable = "HEPDB_TEST_MONGO_URI";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static MongoAdapter RequireServer()
    {
        var text = Environment.GetEnvironmentVariable(UriVariable);
        if (string.IsNullOrWhiteSpace(text))
            Assert.Skip($"No MongoDB server: set {UriVariable} to an admin URI (mongodb://USER:PASSWORD@HOST:PORT/?authSource=admin, " +
                        "a root user on a mongod run with --auth) to run the real-server MongoDB tests.");
        var uri = new Uri(text);
        var userInfo = uri.UserInfo.Split(':', 2);
        return new MongoAdapter(new EngineServerOptions
        {
            Host = uri.Host.Trim('[', ']'),
            Port = uri.Port > 0 ? uri.Port : 27017,
            AdminUser = Uri.UnescapeDataString(userInfo[0]),
            AdminPassword = userInfo.Length > 1 ? Uri.UnescapeDataString(userInfo[1]) : null,
            ConnectTimeout = TimeSpan.FromSeconds(5),
        });
    }

    private static string RandomSlug() =>
        string.Concat(RandomNumberGenerator.GetItems("abcdefghijklmnopqrstuvwxyz0123456789".AsSpan(), 10));

    private static string NewPassword() =>
        string.Concat(RandomNumberGenerator.GetItems("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".AsSpan(), 32));

    private static TenantSpec NewTenant(string slug, int slot) => new(
        TenantNames.DatabaseName(EngineKind.Mongo, slug, slot), TenantNames.UserName(EngineKind.Mongo, slug, slot), NewPassword(), 10);

    private static Task<string?> As(MongoAdapter a, TenantSpec t, string command, string? password = null, string? db = null) =>
        a.ScalarAsTenantAsync(db ?? t.DbName, t.User, password ?? t.Password, command, Ct);

    private static async Task AssertRefused(string code, Func<Task> action) =>
        Assert.Equal(code, (await Assert.ThrowsAsync<EngineCommandException>(action)).Code);

    private const string Unauthorized = "13";
    private const string AuthenticationFailed = "18";

    [Fact]
    public async Task Probe_reports_the_server_version()
    {
        var probe = await RequireServer().ProbeAsync(Ct);

        Assert.True(probe.Up, probe.Error);
        Assert.False(string.IsNullOrEmpty(probe.Version));
    }

    [Fact]
    public async Task Full_tenant_lifecycle_with_isolation_rotate_lock_quota_and_drop()
    {
        var a = RequireServer();
        var slug = RandomSlug();
        var t1 = NewTenant(slug, 1);
        var t2 = NewTenant(slug, 2);
        try
        {
            // Create (twice: idempotent) and connect as the tenant.
            await a.CreateTenantAsync(t1, Ct);
            await a.CreateTenantAsync(t1, Ct);
            await a.CreateTenantAsync(t2, Ct);
            Assert.Equal("1", await As(a, t1, """{"insert":"c","documents":[{"_id":1,"v":"one"}]}"""));
            Assert.Contains("\"one\"", await As(a, t1, """{"find":"c","filter":{"_id":1}}"""));
            Assert.Equal("1", await As(a, t2, """{"insert":"c","documents":[{"_id":1,"v":"two"}]}"""));
            // Index and collection administration a normal app needs (dbAdmin + readWrite).
            await As(a, t1, """{"createIndexes":"c","indexes":[{"key":{"v":1},"name":"v_1"}]}""");

            // Isolation: no reads, writes or drops on the other tenant's database; no user administration; listDatabases
            // shows only its own database.
            await AssertRefused(Unauthorized, () => As(a, t1, """{"find":"c","filter":{}}""", db: t2.DbName));
            await AssertRefused(Unauthorized, () => As(a, t1, """{"insert":"c","documents":[{"x":1}]}""", db: t2.DbName));
            await AssertRefused(Unauthorized, () => As(a, t1, """{"dropDatabase":1}""", db: t2.DbName));
            await AssertRefused(Unauthorized, () => As(a, t1, $$"""{"createUser":"x{{slug}}","pwd":"p","roles":[]}"""));
            await AssertRefused(Unauthorized, () => As(a, t1, $$"""{"createUser":"x{{slug}}","pwd":"p","roles":[]}""", db: "admin"));
            await AssertRefused(Unauthorized, () => As(a, t1, $$"""{"grantRolesToUser":"{{t1.User}}","roles":["root"]}""", db: "admin"));
            var visible = await As(a, t1, """{"listDatabases":1,"nameOnly":true}""", db: "admin");
            Assert.Contains(t1.DbName, visible);
            Assert.DoesNotContain(t2.DbName, visible);

            // Sizes and reconciler listing.
            var sizes = await a.MeasureSizesAsync(Ct);
            Assert.Equal(1, sizes.Queries);
            Assert.True(sizes.Bytes.TryGetValue(t1.DbName, out var size) && size > 0, $"no size for {t1.DbName}");
            var objects = await a.ListTenantObjectsAsync(Ct);
            Assert.Contains(t1.DbName, objects.Databases);
            Assert.Contains(t2.User, objects.Users);

            // Rotate: the new password works at once, the old one is refused.
            var old = t1.Password;
            t1 = t1 with { Password = NewPassword() };
            await a.SetPasswordAsync(t1.User, t1.Password, Ct);
            Assert.Contains("\"one\"", await As(a, t1, """{"find":"c","filter":{}}"""));
            await AssertRefused(AuthenticationFailed, () => As(a, t1, """{"ping":1}""", password: old));

            // Connection limit: documented no-op, must not fail.
            await a.SetConnectionLimitAsync(t1 with { ConnectionLimit = 25 }, Ct);

            // Lock: the stored password no longer logs in. Unlock: it does again, with writes.
            await a.LockAsync(t1, Ct);
            await AssertRefused(AuthenticationFailed, () => As(a, t1, """{"ping":1}"""));
            await a.UnlockAsync(t1, writesBlocked: false, Ct);
            Assert.Equal("1", await As(a, t1, """{"insert":"c","documents":[{"_id":2,"v":"after unlock"}]}"""));

            // Over quota: no insert, update or index creation; find, delete and drop still work.
            await a.SetWritesBlockedAsync(t1, blocked: true, Ct);
            await AssertRefused(Unauthorized, () => As(a, t1, """{"insert":"c","documents":[{"_id":3}]}"""));
            await AssertRefused(Unauthorized, () => As(a, t1, """{"update":"c","updates":[{"q":{"_id":1},"u":{"$set":{"v":"x"}}}]}"""));
            await AssertRefused(Unauthorized, () => As(a, t1, """{"createIndexes":"c","indexes":[{"key":{"w":1},"name":"w_1"}]}"""));
            await AssertRefused(Unauthorized, () => As(a, t1, """{"create":"newcoll"}"""));
            Assert.Contains("\"one\"", await As(a, t1, """{"find":"c","filter":{"_id":1}}"""));
            Assert.Equal("1", await As(a, t1, """{"delete":"c","deletes":[{"q":{"_id":2},"limit":1}]}"""));
            await As(a, t1, """{"dropIndexes":"c","index":"v_1"}""");
            // The tenant cannot undo the block: it holds no role that can grant roles.
            await AssertRefused(Unauthorized, () =>
                As(a, t1, $$"""{"grantRolesToUser":"{{t1.User}}","roles":[{"role":"readWrite","db":"{{t1.DbName}}"}]}""", db: "admin"));

            // Suspended while over quota: unlock keeps writes blocked.
            await a.LockAsync(t1, Ct);
            await a.UnlockAsync(t1, writesBlocked: true, Ct);
            await AssertRefused(Unauthorized, () => As(a, t1, """{"insert":"c","documents":[{"_id":4}]}"""));
            Assert.Contains("\"one\"", await As(a, t1, """{"find":"c","filter":{"_id":1}}"""));

            // Back under quota: writes again.
            await a.SetWritesBlockedAsync(t1, blocked: false, Ct);
            Assert.Equal("1", await As(a, t1, """{"insert":"c","documents":[{"_id":5}]}"""));
            Assert.Equal("1", await As(a, t1, """{"update":"c","updates":[{"q":{"_id":1},"u":{"$set":{"v":"x"}}}]}"""));
            // Dropping a collection is allowed in both states.
            await As(a, t1, """{"drop":"c"}""");

            // Drop (twice: idempotent): the login is gone, the database and user are no longer listed.
            await a.DropTenantAsync(t1.DbName, t1.User, Ct);
            await a.DropTenantAsync(t1.DbName, t1.User, Ct);
            await AssertRefused(AuthenticationFailed, () => As(a, t1, """{"ping":1}"""));
            objects = await a.ListTenantObjectsAsync(Ct);
            Assert.DoesNotContain(t1.DbName, objects.Databases);
            Assert.DoesNotContain(t1.User, objects.Users);
            // The other tenant is untouched.
            Assert.Contains("\"two\"", await As(a, t2, """{"find":"c","filter":{}}"""));
        }
        finally
        {
            await a.DropTenantAsync(t1.DbName, t1.User, CancellationToken.None);
            await a.DropTenantAsync(t2.DbName, t2.User, CancellationToken.None);
        }
    }
}

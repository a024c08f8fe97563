using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using HepDb.Engines;
using HepDb.Engines.Mongo;
using HepDb.Hosting;
using Xunit;

namespace HepDb.Tests.Mongo;

/// <summary>
/// Failure paths through the official driver (MongoDB.Driver): no server at all, refused logins (the fake runs the server side
/// of SCRAM-SHA-256 for users a test registered, and refuses unknown users and wrong proofs with AuthenticationFailed
/// as a real server does), a command error and a dropped connection mid-operation.
/// </summary>
public sealed class MongoDriverFailureTests
{
    private static readonly TenantSpec Spec = new("ug_0a1b2c3d4e_1", "dug_0a1b2c3d4e_1", "Pw0123456789abcdefghijklmnop", 10);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static MongoAdapter Adapter(int port, string? adminPassword = null, double timeoutSeconds = 5) => new(new EngineServerOptions
    {
        Local = false, // an external server (the fake) without TLS
        Host = "127.0.0.1",
        Port = port,
        AdminUser = "hepdb_admin",
        AdminPassword = adminPassword,
        ConnectTimeout = TimeSpan.FromSeconds(timeoutSeconds),
    });

    /// <summary>A port nobody listens on: bound once by the OS, then released.</summary>
    private static int UnusedPort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    [Fact]
    public async Task Nothing_listening_is_EngineUnavailable_before_any_change_within_the_timeout()
    {
        await using var adapter = Adapter(UnusedPort(), timeoutSeconds: 1);
        var sw = Stopwatch.StartNew();

        var e = await Assert.ThrowsAsync<EngineUnavailableException>(() => adapter.CreateTenantAsync(Spec, Ct));

        sw.Stop();
        Assert.True(e.BeforeAnyChange);
        Assert.Equal(EngineKind.Mongo, e.Engine);
        Assert.Contains("no server answered", e.Message);
        Assert.IsType<TimeoutException>(e.InnerException);
        // ConnectTimeout is 1 s: ServerSelectionTimeout bounds the wait, not the 30 s driver default.
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(4), $"took {sw.Elapsed}");
    }

    [Fact]
    public async Task Nothing_listening_makes_the_probe_report_down_instead_of_throwing()
    {
        await using var adapter = Adapter(UnusedPort(), timeoutSeconds: 1);
        var probe = await adapter.ProbeAsync(Ct);

        Assert.False(probe.Up);
        Assert.Null(probe.Version);
        Assert.Contains("no server answered", probe.Error);
    }

    [Fact]
    public async Task Every_admin_operation_fails_unavailable_when_nothing_listens()
    {
        await using var adapter = Adapter(UnusedPort(), timeoutSeconds: 1);
        Func<Task>[] operations =
        [
            () => adapter.DropTenantAsync(Spec.DbName, Spec.User, Ct),
            () => adapter.SetPasswordAsync(Spec.User, "x", Ct),
            () => adapter.LockAsync(Spec, Ct),
            () => adapter.UnlockAsync(Spec, false, Ct),
            () => adapter.SetWritesBlockedAsync(Spec, true, Ct),
            () => adapter.MeasureSizesAsync([Spec.DbName], Ct),
            () => adapter.ListTenantObjectsAsync(Ct),
            () => adapter.EnforceConnectionLimitsAsync(new Dictionary<string, int> { [Spec.User] = 1 }, Ct),
        ];
        foreach (var op in operations)
            Assert.True((await Assert.ThrowsAsync<EngineUnavailableException>(op)).BeforeAnyChange);
    }

    [Fact]
    public async Task A_refused_admin_login_is_EngineUnavailable_before_any_change_and_sends_nothing_else()
    {
        await using var fake = new FakeMongoWireServer();
        await using var adapter = Adapter(fake.Port, adminPassword: "wrong-admin-password");

        var e = await Assert.ThrowsAsync<EngineUnavailableException>(() => adapter.CreateTenantAsync(Spec, Ct));

        Assert.True(e.BeforeAnyChange);
        Assert.Contains("admin login was refused", e.Message);
        Assert.DoesNotContain("wrong-admin-password", e.ToString());
        Assert.Contains(fake.Received, c => c.Name == "saslStart");
        Assert.Empty(fake.Commands);
    }

    [Fact]
    public async Task A_refused_tenant_login_is_EngineCommandException_18_and_uses_SCRAM_SHA_256_against_admin()
    {
        await using var fake = new FakeMongoWireServer();
        await using var adapter = Adapter(fake.Port);

        var e = await Assert.ThrowsAsync<EngineCommandException>(() =>
            adapter.ScalarAsTenantAsync(Spec.DbName, Spec.User, Spec.Password, """{"ping":1}""", Ct));

        Assert.Equal("18", e.Code);
        Assert.DoesNotContain(Spec.Password, e.ToString());
        // The login went to admin (authSource=admin) with SCRAM-SHA-256 as this user.
        var sasl = Assert.Single(fake.Received, c => c.Name == "saslStart");
        Assert.Equal("admin", sasl.Database);
        Assert.Equal("SCRAM-SHA-256", sasl.Document["mechanism"]!.GetValue<string>());
        var payload = Encoding.UTF8.GetString(Convert.FromBase64String(sasl.Document["payload"]!["$binary"]!["base64"]!.GetValue<string>()));
        Assert.StartsWith($"n,,n={Spec.User},r=", payload);
    }

    [Fact]
    public async Task A_tenant_login_with_the_right_password_runs_the_command_on_its_database()
    {
        await using var fake = new FakeMongoWireServer();
        fake.AcceptLogin(Spec.User, Spec.Password);
        fake.Script("find", new JsonObject
        {
            ["cursor"] = new JsonObject { ["firstBatch"] = new JsonArray(new JsonObject { ["_id"] = 1, ["v"] = "one" }), ["id"] = 0, ["ns"] = "ug_0a1b2c3d4e_1.c" },
            ["ok"] = 1.0,
        });

        var first = await Adapter(fake.Port).ScalarAsTenantAsync(Spec.DbName, Spec.User, Spec.Password, """{"find":"c","filter":{"_id":1}}""", Ct);

        Assert.Equal("""{"_id":1,"v":"one"}""", first);
        Assert.Equal(["saslStart", "saslContinue"], fake.Received.Select(c => c.Name).Where(n => n.StartsWith("sasl")).ToArray());
        Assert.Equal("ug_0a1b2c3d4e_1: {\"find\":\"c\",\"filter\":{\"_id\":1}}", fake.Commands.Single().ToString());
    }

    [Fact]
    public async Task A_tenant_login_with_a_wrong_password_fails_the_SCRAM_proof_with_18()
    {
        await using var fake = new FakeMongoWireServer();
        fake.AcceptLogin(Spec.User, "the-current-password");

        var e = await Assert.ThrowsAsync<EngineCommandException>(() =>
            Adapter(fake.Port).ScalarAsTenantAsync(Spec.DbName, Spec.User, "an-old-password", """{"ping":1}""", Ct));

        Assert.Equal("18", e.Code);
        // Refused at the proof (saslContinue), not for an unknown user.
        Assert.Contains(fake.Received, c => c.Name == "saslContinue");
        Assert.Empty(fake.Commands);
    }

    [Fact]
    public async Task A_command_error_after_changes_began_is_EngineCommandException_not_unavailable()
    {
        await using var fake = new FakeMongoWireServer();
        fake.ScriptError("killAllSessionsByPattern", 13, "Unauthorized", "not authorized on admin to execute command");
        await using var adapter = Adapter(fake.Port);

        var e = await Assert.ThrowsAsync<EngineCommandException>(() => adapter.LockAsync(Spec, Ct));

        Assert.Equal("13", e.Code);
        Assert.Equal(["updateUser", "killAllSessionsByPattern"], fake.Commands.Select(c => c.Name).ToArray());
    }

    [Fact]
    public async Task A_server_that_hangs_up_mid_operation_is_EngineUnavailable_after_a_change_may_have_happened()
    {
        await using var fake = new FakeMongoWireServer();
        fake.Script("updateUser", _ => throw new IOException("fake: drop the connection"));
        await using var adapter = Adapter(fake.Port);

        var e = await Assert.ThrowsAsync<EngineUnavailableException>(() => adapter.SetPasswordAsync(Spec.User, "x", Ct));

        Assert.False(e.BeforeAnyChange);
    }
}

/// <summary>Bootstrapping the admin user of a private local mongod (localhost exception), against the fake.</summary>
public sealed class MongoLocalAdminTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static EngineServerOptions Server(int port) => new()
    {
        Host = "127.0.0.1", Port = port, AdminUser = "hepdb_admin", AdminPassword = "AdminPw0123456789", ConnectTimeout = TimeSpan.FromSeconds(5),
        RequireTls = false, // the fake speaks no TLS
    };

    [Fact]
    public async Task Creates_the_admin_user_unauthenticated_when_its_login_is_refused()
    {
        await using var fake = new FakeMongoWireServer();

        await MongoAdapter.EnsureLocalAdminAsync(Server(fake.Port), Ct);

        var sent = Assert.Single(fake.Commands);
        Assert.Equal("""admin: {"createUser":"hepdb_admin","pwd":"AdminPw0123456789","roles":[{"role":"root","db":"admin"}],"mechanisms":["SCRAM-SHA-256"]}""",
            sent.ToString());
    }

    [Fact]
    public async Task Sends_nothing_when_the_admin_login_already_works()
    {
        await using var fake = new FakeMongoWireServer();
        fake.AcceptLogin("hepdb_admin", "AdminPw0123456789");

        await MongoAdapter.EnsureLocalAdminAsync(Server(fake.Port), Ct);

        Assert.Empty(fake.Commands);
    }
}

using System.Text.Json.Nodes;
using HepDb.Engines;
using HepDb.Engines.Mongo;
using HepDb.Hosting;
using MongoDB.Bson;
using Xunit;

namespace HepDb.Tests.Mongo;

/// <summary>
/// The exact command documents MongoAdapter sends, and how it reads the replies, checked through the official driver
/// (MongoDB.Driver) against <see cref="FakeMongoWireServer"/>. These tests pin HepDb's side of the conversation only; whether
/// a real mongod does what the commands intend is covered by <see cref="MongoRealServerTests"/> when a server is set.
/// </summary>
public sealed class MongoCommandTests : IAsyncLifetime
{
    private const string Db = "ug_0a1b2c3d4e_2";
    private const string User = "dug_0a1b2c3d4e_2";
    private const string Password = "Pw0123456789abcdefghijklmnop";
    private static readonly TenantSpec Spec = new(Db, User, Password, 10);

    private const string NormalRoles = """[{"role":"readWrite","db":"ug_0a1b2c3d4e_2"},{"role":"dbAdmin","db":"ug_0a1b2c3d4e_2"}]""";
    private const string BlockedRoles = """[{"role":"read","db":"ug_0a1b2c3d4e_2"},{"role":"hepdbQuotaCleanup","db":"ug_0a1b2c3d4e_2"}]""";
    private const string Kill = """{"killAllSessionsByPattern":[{"users":[{"user":"dug_0a1b2c3d4e_2","db":"admin"}]}]}""";
    private const string CleanupPrivileges =
        """[{"resource":{"db":"ug_0a1b2c3d4e_2","collection":""},"actions":["remove","dropCollection","dropIndex","dropDatabase","compact"]}]""";

    private readonly FakeMongoWireServer _fake = new();
    private MongoAdapter _adapter = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync()
    {
        _adapter = new MongoAdapter(new EngineServerOptions
        {
            Local = false, // an external server (the fake) without TLS
            Host = "127.0.0.1",
            Port = _fake.Port,
            AdminUser = "hepdb_admin",
            ConnectTimeout = TimeSpan.FromSeconds(5),
            PublicHost = "db.example.test",
            PublicPort = 27017,
        });
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _adapter.DisposeAsync();
        await _fake.DisposeAsync();
    }

    private void AssertSent(params string[] expected) =>
        Assert.Equal(expected, _fake.Commands.Select(c => c.ToString()).ToArray());

    [Fact]
    public async Task Create_sends_createUser_in_admin_with_readWrite_and_dbAdmin_on_its_own_db_only()
    {
        await _adapter.CreateTenantAsync(Spec, Ct);

        AssertSent($$"""admin: {"createUser":"{{User}}","pwd":"{{Password}}","roles":{{NormalRoles}},"mechanisms":["SCRAM-SHA-256"]}""");
        // What the fake must speak to stand in for a server: the 3.x driver's first message is a legacy OP_QUERY isMaster
        // on admin.$cmd; commands follow as OP_MSG.
        Assert.Equal(("admin", "isMaster", 2004), (_fake.Received[0].Database, _fake.Received[0].Name, _fake.Received[0].OpCode));
        Assert.Equal(2013, _fake.Commands.Single().OpCode);
    }

    [Fact]
    public async Task Create_converges_an_existing_user_with_updateUser()
    {
        _fake.ScriptError("createUser", 51003, "Location51003", $"User \"{User}@admin\" already exists");

        await _adapter.CreateTenantAsync(Spec, Ct);

        AssertSent(
            $$"""admin: {"createUser":"{{User}}","pwd":"{{Password}}","roles":{{NormalRoles}},"mechanisms":["SCRAM-SHA-256"]}""",
            $$"""admin: {"updateUser":"{{User}}","pwd":"{{Password}}","roles":{{NormalRoles}},"mechanisms":["SCRAM-SHA-256"]}""");
    }

    [Fact]
    public async Task Create_refused_by_the_server_is_an_EngineCommandException_with_the_server_code()
    {
        _fake.ScriptError("createUser", 13, "Unauthorized", "not authorized on admin to execute command { createUser: ... }");

        var e = await Assert.ThrowsAsync<EngineCommandException>(() => _adapter.CreateTenantAsync(Spec, Ct));

        Assert.Equal("13", e.Code);
        Assert.Equal(EngineKind.Mongo, e.Engine);
        Assert.Contains("not authorized on admin", e.Message);
        Assert.DoesNotContain(Password, e.ToString());
    }

    [Fact]
    public async Task Drop_drops_the_user_first_then_kills_its_sessions_then_the_database_and_what_lives_in_it()
    {
        await _adapter.DropTenantAsync(Db, User, Ct);

        AssertSent(
            $$"""admin: {"dropUser":"{{User}}"}""",
            $"admin: {Kill}",
            $$"""{{Db}}: {"dropDatabase":1}""",
            $$"""{{Db}}: {"dropAllRolesFromDatabase":1}""",
            $$"""{{Db}}: {"dropAllUsersFromDatabase":1}""");
    }

    [Fact]
    public async Task Drop_of_an_already_dropped_user_still_drops_the_database()
    {
        _fake.ScriptError("dropUser", 11, "UserNotFound", $"User '{User}@admin' not found");

        await _adapter.DropTenantAsync(Db, User, Ct);

        Assert.Equal(["dropUser", "killAllSessionsByPattern", "dropDatabase", "dropAllRolesFromDatabase", "dropAllUsersFromDatabase"],
            _fake.Commands.Select(c => c.Name).ToArray());
    }

    [Fact]
    public async Task An_allowlist_is_authenticationRestrictions_with_the_ranges_and_ends_the_sessions()
    {
        await _adapter.SetAllowlistAsync(Spec, [System.Net.IPNetwork.Parse("203.0.113.0/24"), System.Net.IPNetwork.Parse("2001:db8::/32")], Ct);
        await _adapter.SetAllowlistAsync(Spec, [], Ct);

        AssertSent(
            $$"""admin: {"updateUser":"{{User}}","authenticationRestrictions":[{"clientSource":["203.0.113.0/24","2001:db8::/32"]}]}""",
            $$"""admin: {"killAllSessionsByPattern":[{"users":[{"user":"{{User}}","db":"admin"}]}]}""",
            $$"""admin: {"updateUser":"{{User}}","authenticationRestrictions":[]}""",
            $$"""admin: {"killAllSessionsByPattern":[{"users":[{"user":"{{User}}","db":"admin"}]}]}""");
    }

    [Fact]
    public async Task Rotate_sends_updateUser_with_the_new_password_and_SCRAM_SHA_256()
    {
        await _adapter.SetPasswordAsync(User, "NewPassword0123456789abcd", Ct);

        AssertSent($$"""admin: {"updateUser":"{{User}}","pwd":"NewPassword0123456789abcd","mechanisms":["SCRAM-SHA-256"]}""");
    }

    [Fact]
    public async Task Rotate_of_a_missing_user_reports_UserNotFound()
    {
        _fake.ScriptError("updateUser", 11, "UserNotFound", $"Could not find user \"{User}\" for db \"admin\"");

        var e = await Assert.ThrowsAsync<EngineCommandException>(() => _adapter.SetPasswordAsync(User, "NewPassword0123456789abcd", Ct));

        Assert.Equal("11", e.Code);
    }

    [Fact]
    public async Task Connection_limit_is_a_no_op_that_does_not_even_connect()
    {
        await _adapter.SetConnectionLimitAsync(Spec with { ConnectionLimit = 25 }, Ct);

        Assert.Empty(_fake.Received);
    }

    private const string CurrentOpPipeline =
        """[{"$currentOp":{"allUsers":true,"idleConnections":true,"idleSessions":false}},{"$unwind":"$effectiveUsers"},""" +
        """{"$match":{"effectiveUsers.db":"admin","effectiveUsers.user":{"$regularExpression":{"pattern":"^dug_","options":""}}}},""" +
        """{"$group":{"_id":"$effectiveUsers.user","ops":{"$push":{"connectionId":"$connectionId","opid":"$opid","active":"$active"}}}}]""";

    [Fact]
    public async Task Connection_limits_count_with_one_currentOp_and_kill_the_operations_of_the_newest_excess_connections()
    {
        // dug_a_1: 4 connections, limit 1 → 14, 13, 12 are the excess; 14 and 13 run something, 12 is idle.
        // dug_b_1: at its limit. dug_c_1: not ours to judge (no limit given), left alone.
        _fake.Script("aggregate", JsonNode.Parse("""
            {"cursor":{"firstBatch":[
              {"_id":"dug_a_1","ops":[{"connectionId":11,"opid":101,"active":true},{"connectionId":12,"active":false},
                                      {"connectionId":13,"opid":103,"active":true},{"connectionId":14,"opid":104,"active":true}]},
              {"_id":"dug_b_1","ops":[{"connectionId":21,"opid":201,"active":true}]},
              {"_id":"dug_c_1","ops":[{"connectionId":31,"opid":301,"active":true},{"connectionId":32,"opid":302,"active":true}]}],
             "id":{"$numberLong":"0"},"ns":"admin.$cmd.aggregate"},"ok":1}
            """)!.AsObject());

        var ended = await _adapter.EnforceConnectionLimitsAsync(new Dictionary<string, int> { ["dug_a_1"] = 1, ["dug_b_1"] = 1 }, Ct);

        Assert.Equal(2, ended);
        var aggregate = _fake.Commands[0];
        Assert.Equal("admin", aggregate.Database);
        Assert.Equal(CurrentOpPipeline, aggregate.Document["pipeline"]!.ToJsonString());
        Assert.Equal(
            ["""admin: {"killOp":1,"op":104}""", """admin: {"killOp":1,"op":103}"""],
            _fake.Commands.Skip(1).Select(c => c.ToString()).ToArray());
    }

    [Fact]
    public async Task Connection_limits_with_no_mongo_database_send_nothing()
    {
        Assert.Equal(0, await _adapter.EnforceConnectionLimitsAsync(new Dictionary<string, int>(), Ct));

        Assert.Empty(_fake.Received);
    }

    [Fact]
    public async Task Two_adapters_for_the_same_server_do_not_share_a_client_so_disposing_one_leaves_the_other_working()
    {
        var other = new MongoAdapter(_adapter.Server);
        await other.SetPasswordAsync(User, "NewPassword0123456789abcd", Ct);
        await _adapter.SetPasswordAsync(User, "NewPassword0123456789abcd", Ct);

        await other.DisposeAsync();
        await _adapter.SetPasswordAsync(User, "NewPassword0123456789abcd", Ct);

        Assert.Equal(3, _fake.Commands.Count);
    }

    [Fact]
    public async Task Lock_removes_every_role_sets_an_unknown_password_and_kills_the_sessions()
    {
        await _adapter.LockAsync(Spec, Ct);
        var first = _fake.Commands[0].Document;
        _fake.ClearReceived();
        await _adapter.LockAsync(Spec, Ct);
        var second = _fake.Commands[0].Document;

        Assert.Equal(2, _fake.Commands.Count);
        Assert.Equal($"admin: {Kill}", _fake.Commands[1].ToString());
        foreach (var updateUser in new[] { first, second })
        {
            Assert.Equal(["updateUser", "pwd", "roles", "mechanisms"], updateUser.Select(p => p.Key).Where(k => !k.StartsWith('$')).ToArray());
            Assert.Equal(User, updateUser["updateUser"]!.GetValue<string>());
            Assert.Equal("[]", updateUser["roles"]!.ToJsonString());
            Assert.Matches("^[0-9A-F]{128}$", updateUser["pwd"]!.GetValue<string>());
            Assert.NotEqual(Password, updateUser["pwd"]!.GetValue<string>());
        }
        // Random each time, so it is not derived from anything stored.
        Assert.NotEqual(first["pwd"]!.GetValue<string>(), second["pwd"]!.GetValue<string>());
    }

    [Fact]
    public async Task Unlock_restores_the_stored_password_and_the_normal_roles()
    {
        await _adapter.UnlockAsync(Spec, writesBlocked: false, Ct);

        AssertSent($$"""admin: {"updateUser":"{{User}}","pwd":"{{Password}}","roles":{{NormalRoles}},"mechanisms":["SCRAM-SHA-256"]}""");
    }

    [Fact]
    public async Task Unlock_of_an_over_quota_database_restores_the_password_with_the_blocked_roles()
    {
        await _adapter.UnlockAsync(Spec, writesBlocked: true, Ct);

        AssertSent(
            $$"""{{Db}}: {"createRole":"hepdbQuotaCleanup","privileges":{{CleanupPrivileges}},"roles":[]}""",
            $$"""admin: {"updateUser":"{{User}}","pwd":"{{Password}}","roles":{{BlockedRoles}},"mechanisms":["SCRAM-SHA-256"]}""");
    }

    [Fact]
    public async Task Block_writes_creates_the_cleanup_role_swaps_to_read_plus_cleanup_and_kills_the_sessions()
    {
        await _adapter.SetWritesBlockedAsync(Spec, blocked: true, Ct);

        AssertSent(
            $$"""{{Db}}: {"createRole":"hepdbQuotaCleanup","privileges":{{CleanupPrivileges}},"roles":[]}""",
            $$"""admin: {"updateUser":"{{User}}","roles":{{BlockedRoles}}}""",
            $"admin: {Kill}");
    }

    [Fact]
    public async Task Block_writes_when_the_cleanup_role_exists_converges_it_with_updateRole()
    {
        _fake.ScriptError("createRole", 51002, "Location51002", $"Role \"hepdbQuotaCleanup@{Db}\" already exists");

        await _adapter.SetWritesBlockedAsync(Spec, blocked: true, Ct);

        AssertSent(
            $$"""{{Db}}: {"createRole":"hepdbQuotaCleanup","privileges":{{CleanupPrivileges}},"roles":[]}""",
            $$"""{{Db}}: {"updateRole":"hepdbQuotaCleanup","privileges":{{CleanupPrivileges}},"roles":[]}""",
            $$"""admin: {"updateUser":"{{User}}","roles":{{BlockedRoles}}}""",
            $"admin: {Kill}");
    }

    [Fact]
    public async Task Unblock_writes_restores_exactly_the_normal_roles()
    {
        await _adapter.SetWritesBlockedAsync(Spec, blocked: false, Ct);

        AssertSent($$"""admin: {"updateUser":"{{User}}","roles":{{NormalRoles}}}""");
    }

    [Fact]
    public async Task Sizes_take_one_listDatabases_filtered_to_tenant_names_and_parse_every_number_form()
    {
        _fake.Script("listDatabases", JsonNode.Parse("""
            {"databases":[
              {"name":"ug_0a1b2c3d4e_2","sizeOnDisk":8192,"empty":false},
              {"name":"ug_zz_1","sizeOnDisk":6000000000,"empty":false},
              {"name":"ug_yy_7","sizeOnDisk":12288.0,"empty":false},
              {"name":"ug_NOT-OURS_1","sizeOnDisk":1,"empty":false},
              {"name":"um_0a1b2c3d4e_1","sizeOnDisk":1,"empty":false},
              {"name":"admin","sizeOnDisk":40960,"empty":false}],
             "totalSize":6000065536,"ok":1}
            """)!.AsObject());

        var scan = await _adapter.MeasureSizesAsync(["ug_0a1b2c3d4e_2", "ug_zz_1", "ug_yy_7", "ug_xx_9"], Ct); // ug_xx_9 is not on the server

        AssertSent("""admin: {"listDatabases":1,"nameOnly":false,"filter":{"name":{"$regularExpression":{"pattern":"^ug_","options":""}}}}""");
        Assert.Equal(1, scan.Queries);
        Assert.Equal(new Dictionary<string, long>
        {
            ["ug_0a1b2c3d4e_2"] = 8192,
            ["ug_zz_1"] = 6_000_000_000,
            ["ug_yy_7"] = 12288,
        }, scan.Bytes);
    }

    [Fact]
    public async Task Tenant_objects_come_from_listDatabases_and_usersInfo_in_admin_filtered_by_naming()
    {
        _fake.Script("listDatabases", JsonNode.Parse("""
            {"databases":[{"name":"ug_abc_1"},{"name":"ug_abc_x"},{"name":"admin"}],"ok":1}
            """)!.AsObject());
        _fake.Script("usersInfo", JsonNode.Parse("""
            {"users":[
              {"_id":"admin.dug_abc_1","user":"dug_abc_1","db":"admin","roles":[]},
              {"_id":"admin.hepdb_admin","user":"hepdb_admin","db":"admin","roles":[]},
              {"_id":"ug_abc_1.dug_abc_9","user":"dug_abc_9","db":"ug_abc_1","roles":[]},
              {"_id":"admin.dum_abc_1","user":"dum_abc_1","db":"admin","roles":[]}],
             "ok":1}
            """)!.AsObject());

        var objects = await _adapter.ListTenantObjectsAsync(Ct);

        AssertSent(
            """admin: {"listDatabases":1,"nameOnly":true,"filter":{"name":{"$regularExpression":{"pattern":"^ug_","options":""}}}}""",
            """admin: {"usersInfo":1}""");
        Assert.Equal(["ug_abc_1"], objects.Databases);
        Assert.Equal(["dug_abc_1"], objects.Users);
    }

    [Fact]
    public async Task Probe_reports_the_buildInfo_version()
    {
        _fake.Script("buildInfo", new JsonObject { ["version"] = "7.0.14", ["ok"] = 1.0 });

        var probe = await _adapter.ProbeAsync(Ct);

        Assert.True(probe.Up, probe.Error);
        Assert.Equal("7.0.14", probe.Version);
        Assert.Contains(_fake.Received, c => c.Name == "buildInfo" && c.Database == "admin");
    }

    [Fact]
    public void Connection_string_uses_the_public_endpoint_and_authSource_admin()
    {
        Assert.Equal($"mongodb://{User}:{Password}@db.example.test:27017/{Db}?authSource=admin", _adapter.ConnectionString(Db, User, Password));

        var tls = new MongoAdapter(new EngineServerOptions { Local = false, Host = "10.0.0.5", Port = 37017, ConnectionStringParameters = "tls=true" });
        Assert.Equal($"mongodb://{User}:{Password}@10.0.0.5:37017/{Db}?authSource=admin&tls=true", tls.ConnectionString(Db, User, Password));
    }

    [Fact]
    public async Task Names_outside_the_safe_alphabet_are_refused_before_anything_is_sent()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => _adapter.CreateTenantAsync(Spec with { User = "dug_x\"; db.dropDatabase()" }, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => _adapter.DropTenantAsync("ug_x.$cmd", User, Ct));

        Assert.Empty(_fake.Commands);
    }
}

/// <summary>How a tenant command's reply becomes ScalarAsTenantAsync's string (pure parsing, no server).</summary>
public sealed class MongoScalarReplyTests
{
    private static BsonDocument Reply(string json) => BsonDocument.Parse(json);

    [Fact]
    public void Cursor_replies_give_the_first_document_or_null()
    {
        Assert.Equal("""{"_id":1,"v":"one"}""",
            MongoAdapter.ScalarFromReply(Reply("""{"cursor":{"firstBatch":[{"_id":1,"v":"one"},{"_id":2}],"id":0,"ns":"d.c"},"ok":1.0}""")));
        Assert.Null(MongoAdapter.ScalarFromReply(Reply("""{"cursor":{"firstBatch":[],"id":0,"ns":"d.c"},"ok":1.0}""")));
    }

    [Fact]
    public void Write_replies_give_n_and_write_errors_are_refusals_with_their_code()
    {
        Assert.Equal("2", MongoAdapter.ScalarFromReply(Reply("""{"n":2,"ok":1.0}""")));
        var e = Assert.Throws<EngineCommandException>(() => MongoAdapter.ScalarFromReply(
            Reply("""{"n":0,"writeErrors":[{"index":0,"code":11000,"errmsg":"E11000 duplicate key error"}],"ok":1.0}""")));
        Assert.Equal("11000", e.Code);
    }

    [Fact]
    public void Other_replies_are_returned_whole()
    {
        Assert.Equal("""{"ok":1}""", MongoAdapter.ScalarFromReply(Reply("""{"ok":1}""")));
    }
}

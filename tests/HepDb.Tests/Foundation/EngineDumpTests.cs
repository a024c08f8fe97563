using System.Text;
using HepDb.Engines;
using HepDb.Engines.MariaDb;
using HepDb.Engines.Postgres;
using HepDb.Hosting;
using HepDb.Security;
using HepDb.Tests.Infrastructure;

namespace HepDb.Tests.Foundation;

/// <summary>Each engine's <see cref="IEngineDumps"/> against its real server: a dump, an emptied database and a load give
/// back the same rows, views, triggers and routines, owned by the tenant; the admin password reaches the tools only
/// through a 0600 file that is gone afterwards.</summary>
public sealed class EngineDumpTests(EngineServers engines)
{
    public static TheoryData<string> Kinds => new() { "mariadb", "postgres" };

    private const int Rows = 20000;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private IEngineAdapter Adapter(EngineKind kind) => kind == EngineKind.MariaDb
        ? new MariaDbAdapter(engines.Engines.MariaDb)
        : new PostgresAdapter(engines.Engines.Postgres);

    private EngineServerOptions Server(EngineKind kind) => kind == EngineKind.MariaDb ? engines.Engines.MariaDb : engines.Engines.Postgres;

    private static TenantSpec NewSpec(EngineKind kind)
    {
        var slug = Secrets.Generate(10).ToLowerInvariant();
        return new TenantSpec(TenantNames.DatabaseName(kind, slug, 1), TenantNames.UserName(kind, slug, 1), Secrets.NewDatabasePassword(), 5);
    }

    [Theory, MemberData(nameof(Kinds))]
    public async Task A_dump_loaded_into_the_recreated_database_gives_back_rows_views_triggers_and_routines_owned_by_the_tenant(string engine)
    {
        var kind = EngineKinds.Parse(engine);
        var adapter = Adapter(kind);
        var dumps = adapter.Dumps!;
        Assert.Equal(kind, dumps.Kind);
        Assert.Equal(kind == EngineKind.MariaDb ? DumpFormat.PlainSql : DumpFormat.PostgresCustom, dumps.Format);
        var spec = NewSpec(kind);
        await adapter.CreateTenantAsync(spec, Ct);
        try
        {
            await FillAsync(adapter, spec);
            var before = await ChecksumAsync(adapter, spec);

            var file = Path.Combine(Path.GetTempPath(), $"hepdb-dump-test-{Guid.NewGuid():N}");
            try
            {
                DumpInfo info;
                await using (var output = File.Create(file)) info = await dumps.DumpAsync(spec.DbName, output, true, Ct);
                Assert.False(string.IsNullOrWhiteSpace(info.EngineVersion));
                Assert.True(new FileInfo(file).Length > 100_000);
                if (kind == EngineKind.MariaDb)
                {
                    var text = await File.ReadAllTextAsync(file, Ct);
                    Assert.DoesNotContain("CREATE DATABASE", text);
                    Assert.DoesNotContain($"USE `{spec.DbName}`", text);
                }

                // The recreated database is empty and the tenant's again without any further grant.
                await dumps.RecreateDatabaseAsync(spec, Ct);
                await Assert.ThrowsAnyAsync<Exception>(() => Tenant(adapter, spec, "SELECT COUNT(*) FROM t"));
                Assert.Equal("0", await Tenant(adapter, spec, kind == EngineKind.MariaDb
                    ? "SELECT COUNT(*) FROM information_schema.TABLES WHERE table_schema = DATABASE()"
                    : "SELECT COUNT(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"));

                // The caller locks the tenant around a restore; the load must work for a locked (NOLOGIN) user.
                await adapter.LockAsync(spec, Ct);
                await using (var input = File.OpenRead(file)) await dumps.LoadAsync(spec, input, Ct);
                await adapter.UnlockAsync(spec, writesBlocked: false, Ct);
            }
            finally
            {
                File.Delete(file);
            }

            Assert.Equal(before, await ChecksumAsync(adapter, spec));
            Assert.Equal((Rows / 7).ToString(), await Tenant(adapter, spec, "SELECT nulls FROM v"));
            Assert.Equal("42", await Tenant(adapter, spec, "SELECT doubled(21)"));
            // The trigger fires on the tenant's new rows, and the tenant can write everywhere.
            await Tenant(adapter, spec, "INSERT INTO t (id, name, data, note) VALUES (999999, 'after', NULL, 'x')");
            Assert.Equal("999999", await Tenant(adapter, spec, "SELECT MAX(n) FROM audit"));
            await Tenant(adapter, spec, "CREATE TABLE later (id INT)");
            await Tenant(adapter, spec, "DROP TABLE later");
            if (kind == EngineKind.MariaDb)
            {
                Assert.Equal($"{spec.User}@%", await Tenant(adapter, spec, "SELECT DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()"));
                Assert.Equal($"{spec.User}@%", await Tenant(adapter, spec, "SELECT DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()"));
                Assert.Equal("2", await Tenant(adapter, spec, "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()"));
                Assert.Equal("utf8mb4_unicode_ci", await Tenant(adapter, spec, "SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()"));
                Assert.Equal("3", await Tenant(adapter, spec, "CALL three()"));
            }
            else
            {
                Assert.Equal(spec.User, await Tenant(adapter, spec, "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname = 'public'"));
                Assert.Equal(spec.User, await Tenant(adapter, spec, "SELECT string_agg(DISTINCT viewowner, ',') FROM pg_views WHERE schemaname = 'public'"));
                Assert.Equal(spec.User, await Tenant(adapter, spec, "SELECT string_agg(DISTINCT pg_get_userbyid(proowner), ',') FROM pg_proc WHERE pronamespace = 'public'::regnamespace"));
                Assert.Equal(spec.User, await Tenant(adapter, spec, "SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ',') FROM pg_class WHERE relnamespace = 'public'::regnamespace"));
                Assert.Equal(spec.User, await Tenant(adapter, spec, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"));
                // The sequence behind the serial column came back with its position.
                Assert.Equal((Rows + 1).ToString(), await Tenant(adapter, spec, "SELECT s FROM t WHERE id = 999999"));
            }
        }
        finally
        {
            await adapter.DropTenantAsync(spec.DbName, spec.User, CancellationToken.None);
            if (adapter is IAsyncDisposable d) await d.DisposeAsync();
        }
    }

    /// <summary>A PostgreSQL tenant over quota stays over quota through a restore: it gets its rows back, can read and
    /// delete, and cannot write until the block is lifted.</summary>
    [Fact]
    public async Task A_postgres_tenant_over_quota_keeps_its_write_block_through_a_restore()
    {
        await using var adapter = new PostgresAdapter(engines.Engines.Postgres);
        var dumps = adapter.Dumps;
        var spec = NewSpec(EngineKind.Postgres);
        await adapter.CreateTenantAsync(spec, Ct);
        try
        {
            await FillAsync(adapter, spec);
            var before = await ChecksumAsync(adapter, spec);
            await adapter.SetWritesBlockedAsync(spec, blocked: true, Ct);
            using var dump = new MemoryStream();
            await dumps.DumpAsync(spec.DbName, dump, true, Ct);
            await dumps.RecreateDatabaseAsync(spec, Ct);
            dump.Position = 0;
            await dumps.LoadAsync(spec, dump, Ct);

            Assert.Equal(before, await ChecksumAsync(adapter, spec));
            await Assert.ThrowsAnyAsync<Exception>(() => Tenant(adapter, spec, "INSERT INTO audit VALUES (1)"));
            await Assert.ThrowsAnyAsync<Exception>(() => Tenant(adapter, spec, "CREATE TABLE later (id INT)"));
            await Tenant(adapter, spec, "DELETE FROM audit");

            await adapter.SetWritesBlockedAsync(spec, blocked: false, Ct);
            await Tenant(adapter, spec, "INSERT INTO audit VALUES (1)");
            Assert.Equal(spec.User, await Tenant(adapter, spec, "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname = 'public'"));
        }
        finally
        {
            await adapter.DropTenantAsync(spec.DbName, spec.User, CancellationToken.None);
        }
    }

    [Theory, MemberData(nameof(Kinds))]
    public async Task The_admin_password_is_in_no_command_line_nor_environment_and_its_file_is_gone_afterwards(string engine)
    {
        var kind = EngineKinds.Parse(engine);
        var adapter = Adapter(kind);
        var password = Server(kind).AdminPassword!;
        Assert.False(string.IsNullOrEmpty(password));
        var spec = NewSpec(kind);
        await adapter.CreateTenantAsync(spec, Ct);
        try
        {
            await FillAsync(adapter, spec);
            var gate = new GateStream();
            var dump = adapter.Dumps!.DumpAsync(spec.DbName, gate, true, Ct);
            await Task.WhenAny(gate.FirstWrite, dump).WaitAsync(TimeSpan.FromSeconds(60), Ct);
            if (dump.IsCompleted) await dump; // failed before writing: show why

            var tool = kind == EngineKind.MariaDb ? "mariadb-dump" : "pg_dump";
            var child = ChildProcesses().FirstOrDefault(p => p.Comm == tool && CommandLine(p.Pid).Contains(spec.DbName, StringComparison.Ordinal));
            Assert.True(child.Pid != 0, $"no running {tool} child found");
            var bytes = Encoding.UTF8.GetBytes(password);
            foreach (var dir in Directory.GetDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
            {
                byte[] cmdline;
                try { cmdline = await File.ReadAllBytesAsync(Path.Combine(dir, "cmdline"), Ct); }
                catch (IOException) { continue; }
                catch (UnauthorizedAccessException) { continue; }
                Assert.True(cmdline.AsSpan().IndexOf(bytes) < 0, $"the admin password is on the command line of {dir}");
            }
            var environ = await File.ReadAllBytesAsync($"/proc/{child.Pid}/environ", Ct);
            Assert.True(environ.AsSpan().IndexOf(bytes) < 0, $"the admin password is in the environment of {tool}");

            var args = Encoding.UTF8.GetString(await File.ReadAllBytesAsync($"/proc/{child.Pid}/cmdline", Ct)).Split('\0');
            var vars = Encoding.UTF8.GetString(environ).Split('\0');
            var credentials = kind == EngineKind.MariaDb
                ? args.Single(a => a.StartsWith("--defaults-file=", StringComparison.Ordinal))["--defaults-file=".Length..]
                : vars.Single(v => v.StartsWith("PGPASSFILE=", StringComparison.Ordinal))["PGPASSFILE=".Length..];
            Assert.True(File.Exists(credentials));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(credentials));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(credentials)!));
            Assert.DoesNotContain(vars, v => v.StartsWith("MYSQL_PWD=", StringComparison.Ordinal) || v.StartsWith("PGPASSWORD=", StringComparison.Ordinal));

            gate.Open();
            await dump;
            Assert.True(gate.Length > 100_000);
            Assert.False(File.Exists(credentials));
            Assert.False(Directory.Exists(Path.GetDirectoryName(credentials)));

            // A failing dump: the tool's error, without the password, and no file left either.
            var missing = TenantNames.DatabaseName(kind, "nosuchdb", 1);
            var before = Directory.GetDirectories(Path.GetTempPath(), "hepdb-tool-*").ToHashSet();
            var error = await Assert.ThrowsAsync<EngineCommandException>(() => adapter.Dumps.DumpAsync(missing, Stream.Null, true, Ct));
            Assert.StartsWith("tool-exit-", error.Code);
            Assert.Contains(missing, error.Message);
            Assert.DoesNotContain(password, error.Message);
            // Other tests' tools come and go meanwhile: every folder new since then must be gone within their time.
            for (var deadline = DateTime.UtcNow.AddSeconds(60); Directory.GetDirectories(Path.GetTempPath(), "hepdb-tool-*").Any(d => !before.Contains(d)); await Task.Delay(200, Ct))
                Assert.True(DateTime.UtcNow < deadline, "a tool's credential folder stayed behind");
        }
        finally
        {
            await adapter.DropTenantAsync(spec.DbName, spec.User, CancellationToken.None);
            if (adapter is IAsyncDisposable d) await d.DisposeAsync();
        }
    }

    [Theory, MemberData(nameof(Kinds))]
    public async Task An_unreachable_server_is_unavailable_and_a_cancelled_dump_stops_its_tool(string engine)
    {
        var kind = EngineKinds.Parse(engine);
        var o = Server(kind);
        var closed = new EngineServerOptions { Host = "127.0.0.1", Port = EngineServers.FreePort(), AdminPassword = o.AdminPassword, ConnectTimeout = TimeSpan.FromSeconds(2) };
        var down = kind == EngineKind.MariaDb ? (IEngineAdapter)new MariaDbAdapter(closed) : new PostgresAdapter(closed);
        await using (down as IAsyncDisposable)
        {
            // The version query fails first; the tool's own message is classified the same way (see DumpTool).
            await Assert.ThrowsAsync<EngineUnavailableException>(() => down.Dumps!.DumpAsync(TenantNames.DatabaseName(kind, "x", 1), Stream.Null, true, Ct));
        }

        var adapter = Adapter(kind);
        var spec = NewSpec(kind);
        await adapter.CreateTenantAsync(spec, Ct);
        try
        {
            await FillAsync(adapter, spec);
            var gate = new GateStream();
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            var dump = adapter.Dumps!.DumpAsync(spec.DbName, gate, true, cts.Token);
            await Task.WhenAny(gate.FirstWrite, dump).WaitAsync(TimeSpan.FromSeconds(60), Ct);
            if (dump.IsCompleted) await dump; // failed before writing: show why
            var tool = kind == EngineKind.MariaDb ? "mariadb-dump" : "pg_dump";
            var child = ChildProcesses().Single(p => p.Comm == tool && CommandLine(p.Pid).Contains(spec.DbName, StringComparison.Ordinal));
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => dump);
            for (var i = 0; i < 50 && ChildProcesses().Any(p => p.Pid == child.Pid); i++) await Task.Delay(100, Ct);
            Assert.DoesNotContain(ChildProcesses(), p => p.Pid == child.Pid);
        }
        finally
        {
            await adapter.DropTenantAsync(spec.DbName, spec.User, CancellationToken.None);
            if (adapter is IAsyncDisposable d) await d.DisposeAsync();
        }
    }

    /// <summary>A table with NULLs, unicode and arbitrary bytes, a view, a trigger and routines, made by the tenant.</summary>
    private static async Task FillAsync(IEngineAdapter adapter, TenantSpec spec)
    {
        string[] statements = adapter.Kind == EngineKind.MariaDb
            ?
            [
                "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(100) NULL, data VARBINARY(64) NULL, note TEXT NOT NULL)",
                "INSERT INTO t SELECT seq, IF(seq % 7 = 0, NULL, CONCAT('héllo ✓ 😀 ', seq)), IF(seq % 5 = 0, NULL, UNHEX(MD5(seq))), " +
                $"REPEAT(MD5(seq), 3) FROM seq_1_to_{Rows}",
                "UPDATE t SET data = x'00FF27225C0A0D1A', note = 'quote \\' backslash \\\\ tab \t nl \n end' WHERE id = 1",
                "CREATE TABLE audit (n INT NOT NULL)",
                "CREATE VIEW v AS SELECT COUNT(*) AS nulls FROM t WHERE name IS NULL",
                "CREATE TRIGGER trg AFTER INSERT ON t FOR EACH ROW INSERT INTO audit VALUES (NEW.id)",
                "CREATE FUNCTION doubled(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
                "CREATE PROCEDURE three() BEGIN DECLARE a INT DEFAULT 1; SET a = a + 2; SELECT a; END",
            ]
            :
            [
                "CREATE TABLE t (id INT PRIMARY KEY, name TEXT, data BYTEA, note TEXT NOT NULL, s BIGSERIAL)",
                "INSERT INTO t (id, name, data, note) SELECT n, CASE WHEN n % 7 = 0 THEN NULL ELSE 'héllo ✓ 😀 ' || n END, " +
                $"CASE WHEN n % 5 = 0 THEN NULL ELSE decode(md5(n::text), 'hex') END, repeat(md5(n::text), 3) FROM generate_series(1, {Rows}) n",
                "UPDATE t SET data = '\\x00ff27225c0a0d1a'::bytea, note = E'quote '' backslash \\\\ tab \\t nl \\n end' WHERE id = 1",
                "CREATE TABLE audit (n INT NOT NULL)",
                "CREATE VIEW v AS SELECT COUNT(*) AS nulls FROM t WHERE name IS NULL",
                "CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit VALUES (NEW.id); RETURN NEW; END $$",
                "CREATE TRIGGER trg AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION audit_row()",
                "CREATE FUNCTION doubled(x INT) RETURNS INT LANGUAGE sql IMMUTABLE AS 'SELECT x * 2'",
            ];
        foreach (var sql in statements) await Tenant(adapter, spec, sql);
    }

    /// <summary>Row count and a digest over every row in id order, as the tenant.</summary>
    private static Task<string?> ChecksumAsync(IEngineAdapter adapter, TenantSpec spec) => Tenant(adapter, spec, adapter.Kind == EngineKind.MariaDb
        ? "SELECT CONCAT(COUNT(*), ':', SUM(CRC32(CONCAT_WS('|', id, IFNULL(name, '~'), IFNULL(HEX(data), '~'), note))), ':', " +
          "SUM(CONV(LEFT(MD5(CONCAT_WS('|', id, IFNULL(name, '~'), IFNULL(HEX(data), '~'), HEX(note))), 12), 16, 10))) FROM t"
        : "SELECT COUNT(*) || ':' || md5(string_agg(concat_ws('|', id, coalesce(name, '~'), coalesce(encode(data, 'hex'), '~'), note), E'\\n' ORDER BY id)) FROM t");

    private static Task<string?> Tenant(IEngineAdapter adapter, TenantSpec spec, string sql) =>
        adapter.ScalarAsTenantAsync(spec.DbName, spec.User, spec.Password, sql, Ct);

    private readonly record struct ChildProcess(int Pid, string Comm);

    private static string CommandLine(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' '); }
        catch (IOException) { return ""; }
    }

    /// <summary>Direct children of this test process, from /proc/&lt;pid&gt;/stat.</summary>
    private static List<ChildProcess> ChildProcesses()
    {
        var me = Environment.ProcessId;
        var list = new List<ChildProcess>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            string stat;
            try { stat = File.ReadAllText(Path.Combine(dir, "stat")); }
            catch (IOException) { continue; }
            var open = stat.IndexOf('(');
            var close = stat.LastIndexOf(')');
            var fields = stat[(close + 2)..].Split(' ');
            if (int.Parse(fields[1]) == me) list.Add(new ChildProcess(pid, stat[(open + 1)..close]));
        }
        return list;
    }

    /// <summary>An output that holds the first write until <see cref="Open"/>, so the tool is caught mid-dump.</summary>
    private sealed class GateStream : Stream
    {
        private readonly TaskCompletionSource _first = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _length;

        public Task FirstWrite => _first.Task;
        public void Open() => _open.TrySetResult();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            _first.TrySetResult();
            await _open.Task.WaitAsync(cancellationToken);
            _length += buffer.Length;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _length;
        public override long Position { get => _length; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}

using HepDb.Hosting;
using MySqlConnector;

namespace HepDb.Tests.Infrastructure;

/// <summary>Plain MySqlConnector connections for tests that hold a session open or act as root beside HepDb. Never
/// pooled: a pooled connection would stay open after the test and count against a tenant's connection limit.</summary>
internal static class MariaDbConnections
{
    public static async Task<MySqlConnection> OpenAsync(string host, int port, string user, string? password, string? database = null)
    {
        var c = new MySqlConnection(new MySqlConnectionStringBuilder
        {
            Server = host, Port = (uint)port, UserID = user, Password = password ?? "", Database = database ?? "",
            Pooling = false, ConnectionTimeout = 5,
        }.ConnectionString);
        try
        {
            await c.OpenAsync();
            return c;
        }
        catch
        {
            await c.DisposeAsync();
            throw;
        }
    }

    /// <summary>root on the shared test server.</summary>
    public static Task<MySqlConnection> OpenAdminAsync(EngineServerOptions o) => OpenAsync(o.Host, o.Port, "root", o.AdminPassword);

    public static async Task<int> ExecAsync(this MySqlConnection c, string sql)
    {
        await using var cmd = new MySqlCommand(sql, c);
        return await cmd.ExecuteNonQueryAsync();
    }

    public static async Task<string?> ScalarAsync(this MySqlConnection c, string sql)
    {
        await using var cmd = new MySqlCommand(sql, c);
        return (await cmd.ExecuteScalarAsync())?.ToString();
    }
}

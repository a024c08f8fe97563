using System.Runtime.InteropServices;
using System.Text;
using static HepDb.Engines.MariaDb.MariaDbNative;

namespace HepDb.Engines.MariaDb;

/// <summary>An error from the MariaDB server or client library, with the server's error number and message.</summary>
public sealed class MariaDbException(uint number, string message) : Exception($"MariaDB error {number}: {message}")
{
    public uint Number { get; } = number;
    public string ServerMessage { get; } = message;

    /// <summary>Client errors that mean the server could not be reached or the link broke (CR_CONNECTION_ERROR,
    /// CR_CONN_HOST_ERROR, CR_UNKNOWN_HOST, CR_SERVER_GONE_ERROR, CR_SERVER_LOST).</summary>
    public bool IsUnreachable => Number is 2002 or 2003 or 2005 or 2006 or 2013;
}

/// <summary>
/// One connection through Connector/C. Not thread-safe: a handle is used by one caller at a time, which is how
/// the library requires it. Statements are sent as text: the library's DDL takes no placeholders, so callers build
/// SQL only from names that passed <see cref="TenantNames.Require"/> and literals from <see cref="TenantNames.Literal"/>.
/// </summary>
public sealed class MariaDbSession : IDisposable
{
    private IntPtr _mysql;

    private MariaDbSession(IntPtr mysql) => _mysql = mysql;

    public static MariaDbSession Open(string host, int port, string user, string? password, string? database,
        TimeSpan timeout, string? unixSocket = null)
    {
        EnsureInitialized();
        var mysql = mysql_init(IntPtr.Zero);
        if (mysql == IntPtr.Zero) throw new OutOfMemoryException("mysql_init returned NULL.");
        var seconds = (uint)Math.Max(1, Math.Ceiling(timeout.TotalSeconds));
        mysql_options(mysql, OptConnectTimeout, ref seconds);
        var rw = Math.Max(seconds, 30u);
        mysql_options(mysql, OptReadTimeout, ref rw);
        mysql_options(mysql, OptWriteTimeout, ref rw);
        if (mysql_real_connect(mysql, unixSocket is null ? host : null, user, password, database, (uint)port, unixSocket, 0) == IntPtr.Zero)
        {
            var error = LastError(mysql);
            mysql_close(mysql);
            throw error;
        }
        if (mysql_set_character_set(mysql, "utf8mb4") != 0)
        {
            var error = LastError(mysql);
            mysql_close(mysql);
            throw error;
        }
        return new MariaDbSession(mysql);
    }

    public string ServerVersion => Marshal.PtrToStringUTF8(mysql_get_server_info(Handle)) ?? "";

    /// <summary>Runs a statement that returns no rows; returns the affected row count.</summary>
    public ulong Execute(string sql)
    {
        Send(sql);
        var result = mysql_store_result(Handle);
        if (result != IntPtr.Zero) mysql_free_result(result);
        return mysql_affected_rows(Handle);
    }

    /// <summary>Runs a query and returns every row; SQL NULL is <c>null</c>.</summary>
    public List<string?[]> Query(string sql)
    {
        Send(sql);
        var rows = new List<string?[]>();
        var result = mysql_store_result(Handle);
        if (result == IntPtr.Zero)
        {
            if (mysql_field_count(Handle) != 0) throw LastError(Handle);
            return rows;
        }
        try
        {
            var fields = (int)mysql_num_fields(result);
            IntPtr row;
            while ((row = mysql_fetch_row(result)) != IntPtr.Zero)
            {
                var lengths = mysql_fetch_lengths(result);
                var values = new string?[fields];
                for (var i = 0; i < fields; i++)
                {
                    var cell = Marshal.ReadIntPtr(row, i * IntPtr.Size);
                    if (cell == IntPtr.Zero) continue;
                    var length = (int)Marshal.ReadInt64(lengths, i * 8);
                    values[i] = Marshal.PtrToStringUTF8(cell, length);
                }
                rows.Add(values);
            }
        }
        finally
        {
            mysql_free_result(result);
        }
        return rows;
    }

    public string? Scalar(string sql)
    {
        var rows = Query(sql);
        return rows.Count > 0 && rows[0].Length > 0 ? rows[0][0] : null;
    }

    private void Send(string sql)
    {
        var bytes = Encoding.UTF8.GetBytes(sql);
        if (mysql_real_query(Handle, bytes, (nuint)bytes.Length) != 0) throw LastError(Handle);
    }

    private IntPtr Handle => _mysql != IntPtr.Zero ? _mysql : throw new ObjectDisposedException(nameof(MariaDbSession));

    private static MariaDbException LastError(IntPtr mysql) =>
        new(mysql_errno(mysql), Marshal.PtrToStringUTF8(mysql_error(mysql)) ?? "unknown error");

    public void Dispose()
    {
        if (_mysql == IntPtr.Zero) return;
        mysql_close(_mysql);
        _mysql = IntPtr.Zero;
    }
}

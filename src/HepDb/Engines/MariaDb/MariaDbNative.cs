using System.Runtime.InteropServices;

namespace HepDb.Engines.MariaDb;

/// <summary>P/Invoke declarations for the official MariaDB Connector/C (<c>libmariadb.so.3</c>), x86-64 Linux (LP64:
/// C <c>unsigned long</c> is 8 bytes, hence <see cref="nuint"/>). Only <see cref="MariaDbSession"/> calls these.</summary>
internal static partial class MariaDbNative
{
    private const string Lib = "libmariadb.so.3";

    // mysql_option values from mariadb_com.h.
    public const int OptConnectTimeout = 0;
    public const int OptReadTimeout = 11;
    public const int OptWriteTimeout = 12;

    [LibraryImport(Lib)] public static partial int mysql_server_init(int argc, IntPtr argv, IntPtr groups);
    [LibraryImport(Lib)] public static partial IntPtr mysql_init(IntPtr mysql);
    [LibraryImport(Lib)] public static partial int mysql_options(IntPtr mysql, int option, ref uint arg);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    public static partial IntPtr mysql_real_connect(IntPtr mysql, string? host, string? user, string? passwd, string? db,
        uint port, string? unixSocket, nuint clientFlag);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mysql_set_character_set(IntPtr mysql, string charset);

    [LibraryImport(Lib)] public static partial int mysql_real_query(IntPtr mysql, byte[] query, nuint length);
    [LibraryImport(Lib)] public static partial IntPtr mysql_store_result(IntPtr mysql);
    [LibraryImport(Lib)] public static partial uint mysql_field_count(IntPtr mysql);
    [LibraryImport(Lib)] public static partial ulong mysql_affected_rows(IntPtr mysql);
    [LibraryImport(Lib)] public static partial uint mysql_num_fields(IntPtr result);
    [LibraryImport(Lib)] public static partial IntPtr mysql_fetch_row(IntPtr result);
    [LibraryImport(Lib)] public static partial IntPtr mysql_fetch_lengths(IntPtr result);
    [LibraryImport(Lib)] public static partial void mysql_free_result(IntPtr result);
    [LibraryImport(Lib)] public static partial int mysql_next_result(IntPtr mysql);
    [LibraryImport(Lib)] public static partial uint mysql_errno(IntPtr mysql);
    [LibraryImport(Lib)] public static partial IntPtr mysql_error(IntPtr mysql);
    [LibraryImport(Lib)] public static partial IntPtr mysql_get_server_info(IntPtr mysql);
    [LibraryImport(Lib)] public static partial void mysql_close(IntPtr mysql);

    private static readonly Lazy<bool> Initialized = new(() => mysql_server_init(0, IntPtr.Zero, IntPtr.Zero) == 0);

    /// <summary><c>mysql_library_init</c> is a header macro for <c>mysql_server_init</c>; it must run once before any
    /// connection is opened from any thread. The <see cref="Lazy{T}"/> makes that happen exactly once.</summary>
    public static void EnsureInitialized()
    {
        if (!Initialized.Value) throw new InvalidOperationException("mysql_server_init failed.");
    }
}

using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HepDb.Engines.Mongo;

/// <summary>
/// P/Invoke declarations for the official MongoDB C driver (<c>libmongoc-1.0.so.0</c> / <c>libbson-1.0.so.0</c>, Debian 12
/// ships 1.23), x86-64 Linux. Only <see cref="MongoClientSession"/> calls these.
/// </summary>
internal static unsafe partial class MongoNative
{
    private const string Mongoc = "libmongoc-1.0.so.0";
    private const string Bson = "libbson-1.0.so.0";

    /// <summary><c>bson_error_t</c>: domain, code and a 504-byte NUL-terminated message (512 bytes in all).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct BsonError
    {
        public uint Domain;
        public uint Code;
        public fixed byte Message[504];

        public readonly string Text()
        {
            fixed (byte* p = Message) return Marshal.PtrToStringUTF8((IntPtr)p) ?? "";
        }
    }

    // Error domains (mongoc-error.h, mongoc_error_domain_t).
    public const uint DomainClient = 1;
    public const uint DomainStream = 2;
    public const uint DomainProtocol = 3;
    public const uint DomainSasl = 7;
    public const uint DomainScram = 14;
    public const uint DomainServerSelection = 15;
    public const uint DomainWriteConcern = 16;
    /// <summary>Only with error API version 2, which every client here sets: the server refused the command.</summary>
    public const uint DomainServer = 17;

    // Error codes (mongoc_error_code_t).
    public const uint CodeClientAuthenticate = 11;

    [LibraryImport(Mongoc)] public static partial void mongoc_init();
    [LibraryImport(Mongoc)] public static partial IntPtr mongoc_get_version();
    [LibraryImport(Mongoc)] public static partial void mongoc_log_set_handler(delegate* unmanaged<int, byte*, byte*, void*, void> handler, void* userData);

    [LibraryImport(Mongoc, StringMarshalling = StringMarshalling.Utf8)]
    public static partial IntPtr mongoc_uri_new_for_host_port(string hostname, ushort port);

    [LibraryImport(Mongoc, StringMarshalling = StringMarshalling.Utf8)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool mongoc_uri_set_username(IntPtr uri, string username);

    [LibraryImport(Mongoc, StringMarshalling = StringMarshalling.Utf8)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool mongoc_uri_set_password(IntPtr uri, string password);

    [LibraryImport(Mongoc, StringMarshalling = StringMarshalling.Utf8)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool mongoc_uri_set_auth_source(IntPtr uri, string value);

    [LibraryImport(Mongoc, StringMarshalling = StringMarshalling.Utf8)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool mongoc_uri_set_auth_mechanism(IntPtr uri, string value);

    [LibraryImport(Mongoc, StringMarshalling = StringMarshalling.Utf8)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool mongoc_uri_set_appname(IntPtr uri, string value);

    [LibraryImport(Mongoc, StringMarshalling = StringMarshalling.Utf8)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool mongoc_uri_set_option_as_int32(IntPtr uri, string option, int value);

    [LibraryImport(Mongoc, StringMarshalling = StringMarshalling.Utf8)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool mongoc_uri_set_option_as_bool(IntPtr uri, string option, [MarshalAs(UnmanagedType.U1)] bool value);

    [LibraryImport(Mongoc)] public static partial void mongoc_uri_destroy(IntPtr uri);

    [LibraryImport(Mongoc)] public static partial IntPtr mongoc_client_new_from_uri_with_error(IntPtr uri, BsonError* error);

    [LibraryImport(Mongoc)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool mongoc_client_set_error_api(IntPtr client, int version);

    [LibraryImport(Mongoc)] public static partial void mongoc_client_destroy(IntPtr client);

    [LibraryImport(Mongoc, StringMarshalling = StringMarshalling.Utf8)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool mongoc_client_command_simple(IntPtr client, string dbName, IntPtr command, IntPtr readPrefs,
        void* reply, BsonError* error);

    [LibraryImport(Bson)] public static partial IntPtr bson_new_from_json(byte* data, nint length, BsonError* error);
    [LibraryImport(Bson)] public static partial IntPtr bson_as_relaxed_extended_json(void* bson, out nuint length);
    [LibraryImport(Bson)] public static partial void bson_free(IntPtr memory);
    [LibraryImport(Bson)] public static partial void bson_destroy(void* bson);

    /// <summary>Where libmongoc's own log lines go (it writes to stderr by default). The handler is process-wide in the
    /// C library, so the sink is static; <see cref="MongoAdapterFactory"/> points it at the host's logger.</summary>
    public static ILogger Log { get; set; } = NullLogger.Instance;

    private static readonly Lazy<bool> Initialized = new(() =>
    {
        // The handler is installed before mongoc_init so that nothing reaches stderr, not even init-time warnings.
        mongoc_log_set_handler(&OnLog, null);
        mongoc_init();
        return true;
    });

    /// <summary>mongoc_init must run once per process before any other call; the <see cref="Lazy{T}"/> (thread-safe by
    /// default) makes that happen exactly once.</summary>
    public static void EnsureInitialized() => _ = Initialized.Value;

    public static string Version
    {
        get
        {
            EnsureInitialized();
            return Marshal.PtrToStringUTF8(mongoc_get_version()) ?? "";
        }
    }

    // mongoc_log_level_t: ERROR 0, CRITICAL 1, WARNING 2, MESSAGE 3, INFO 4, DEBUG 5, TRACE 6.
    [UnmanagedCallersOnly]
    private static void OnLog(int level, byte* domain, byte* message, void* userData)
    {
        // DEBUG and TRACE are dropped without being read: trace output can contain wire-protocol bodies, and
        // createUser/updateUser bodies carry passwords. The levels kept are short driver messages without secrets.
        if (level > 4) return;
        try
        {
            var logLevel = level switch { 0 or 1 => LogLevel.Error, 2 => LogLevel.Warning, _ => LogLevel.Debug };
            Log.Log(logLevel, "libmongoc {Domain}: {Message}",
                Marshal.PtrToStringUTF8((IntPtr)domain), Marshal.PtrToStringUTF8((IntPtr)message));
        }
        catch
        {
            // An exception must never unwind into native code.
        }
    }
}

using System.Globalization;

namespace HepDb.Web.Display;

/// <summary>How the pages write sizes and times (MB = 1,048,576 bytes, as everywhere in HepDb).</summary>
public static class Format
{
    public static string Bytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1_048_576 => (bytes / 1024.0).ToString("0.#", CultureInfo.InvariantCulture) + " KB",
        < 1_073_741_824 => (bytes / 1_048_576.0).ToString("0.#", CultureInfo.InvariantCulture) + " MB",
        _ => (bytes / 1_073_741_824.0).ToString("0.##", CultureInfo.InvariantCulture) + " GB",
    };

    public static string Utc(DateTime? utc) => utc is { } t ? t.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture) : "never";

    public static string Ago(DateTime? utc, DateTime now)
    {
        if (utc is not { } t) return "never";
        var d = now - t;
        return d.TotalSeconds < 60 ? "just now"
            : d.TotalMinutes < 60 ? $"{(int)d.TotalMinutes} min ago"
            : d.TotalHours < 48 ? $"{(int)d.TotalHours} h ago"
            : $"{(int)d.TotalDays} days ago";
    }

    /// <summary>0-100 for a usage bar.</summary>
    public static int Percent(long used, long limit) => limit <= 0 ? 100 : (int)Math.Clamp(used * 100 / limit, 0, 100);
}

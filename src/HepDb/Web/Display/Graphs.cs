using System.Globalization;
using System.Net;
using System.Text;
using HepDb.Usage;
using Microsoft.AspNetCore.Html;

namespace HepDb.Web.Display;

/// <summary>One line of a graph: its name (in the legend and the text equivalent) and its points, oldest first. A
/// point without a value (a pass that could not count) leaves a gap.</summary>
public sealed record GraphSeries(string Name, IReadOnlyList<(DateTime At, double? Value)> Points);

/// <summary>A graph over time: the window it shows, its lines, an optional limit drawn as a horizontal line, and how
/// its values are written (sizes, counts). The scale's top is a round number of <see cref="Unit"/>s (1 MB for sizes).</summary>
public sealed record GraphSpec(string Id, string Title, string Description, DateTime From, DateTime To, IReadOnlyList<GraphSeries> Series,
    double? Limit, string? LimitLabel, Func<double, string> Label, double Unit = 1);

/// <summary>
/// Server-rendered SVG graphs, no script: a line (an area for a single line) over time, the limit as a dashed
/// horizontal line, labelled axes, a <c>&lt;title&gt;</c> and <c>&lt;desc&gt;</c> and <c>role="img"</c> with an
/// <c>aria-label</c>; the page adds a text equivalent (<see cref="Table"/>). Long series are reduced to the largest value
/// per horizontal step, so a graph stays a few kilobytes whatever the number of samples.
/// </summary>
public static class Graphs
{
    private const int Width = 520, Height = 170, Left = 64, Right = 12, Top = 12, Bottom = 26;
    private const int Steps = 160;
    private static readonly string[] Colors = ["#0b6bcb", "#b35900", "#1a7f37", "#8250df"];

    public static IHtmlContent Svg(GraphSpec g)
    {
        var plotW = Width - Left - Right;
        var plotH = Height - Top - Bottom;
        var span = Math.Max(1, (g.To - g.From).TotalSeconds);
        var reduced = g.Series.Select(s => Reduce(s.Points, g.From, span)).ToList();
        var top = Nice(Math.Max(g.Limit ?? 0, reduced.SelectMany(r => r).Select(p => p.Value).DefaultIfEmpty(0).Max() ?? 0) * 1.1 / g.Unit) * g.Unit;
        double X(DateTime at) => Left + Math.Clamp((at - g.From).TotalSeconds / span, 0, 1) * plotW;
        double Y(double v) => Top + plotH - v / top * plotH;

        var sb = new StringBuilder();
        var label = $"{g.Title}. {g.Description}";
        sb.Append(CultureInfo.InvariantCulture, $"<svg class=\"graph\" id=\"{E(g.Id)}\" role=\"img\" aria-label=\"{E(label)}\" viewBox=\"0 0 {Width} {Height}\" width=\"{Width}\" height=\"{Height}\" xmlns=\"http://www.w3.org/2000/svg\">");
        sb.Append(CultureInfo.InvariantCulture, $"<title>{E(g.Title)}</title><desc>{E(g.Description)}</desc>");
        // Grid and y labels: 0, half and the top of the scale.
        foreach (var f in new[] { 0.0, 0.5, 1.0 })
        {
            var y = Y(top * f);
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{N(y)}\" y2=\"{N(y)}\" stroke=\"#d8dde3\" stroke-width=\"1\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left - 6}\" y=\"{N(y + 4)}\" text-anchor=\"end\" font-size=\"11\" fill=\"#5b6470\">{E(g.Label(top * f))}</text>");
        }
        // x labels: the window's start, middle and end.
        foreach (var (f, anchor) in new[] { (0.0, "start"), (0.5, "middle"), (1.0, "end") })
        {
            var at = g.From.AddSeconds(span * f);
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{N(Left + f * plotW)}\" y=\"{Height - 8}\" text-anchor=\"{anchor}\" font-size=\"11\" fill=\"#5b6470\">{E(TimeLabel(at, g.To, span))}</text>");
        }
        sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" x2=\"{Left}\" y1=\"{Top}\" y2=\"{Top + plotH}\" stroke=\"#5b6470\" stroke-width=\"1\"/>");
        for (var i = 0; i < reduced.Count; i++)
        {
            var color = Colors[i % Colors.Length];
            foreach (var run in Runs(reduced[i]))
            {
                var line = string.Join(" ", run.Select((p, k) => $"{(k == 0 ? "M" : "L")}{N(X(p.At))},{N(Y(p.Value))}"));
                if (reduced.Count == 1 && run.Count > 1)
                    sb.Append(CultureInfo.InvariantCulture, $"<path d=\"{line} L{N(X(run[^1].At))},{N(Y(0))} L{N(X(run[0].At))},{N(Y(0))} Z\" fill=\"{color}\" fill-opacity=\"0.15\" stroke=\"none\"/>");
                sb.Append(CultureInfo.InvariantCulture, $"<path class=\"series\" d=\"{line}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" stroke-linejoin=\"round\"/>");
                if (run.Count == 1) sb.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{N(X(run[0].At))}\" cy=\"{N(Y(run[0].Value))}\" r=\"2.5\" fill=\"{color}\"/>");
            }
        }
        if (g.Limit is { } limit)
        {
            var y = Y(limit);
            sb.Append(CultureInfo.InvariantCulture, $"<line class=\"limit\" x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{N(y)}\" y2=\"{N(y)}\" stroke=\"#c62828\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{Width - Right - 4}\" y=\"{N(y - 4)}\" text-anchor=\"end\" font-size=\"11\" fill=\"#c62828\">{E(g.LimitLabel ?? "limit")}</text>");
        }
        if (g.Series.Count > 1)
            for (var i = 0; i < g.Series.Count; i++)
                sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left + 8 + i * 110}\" y=\"{Top + 12}\" font-size=\"11\" fill=\"{Colors[i % Colors.Length]}\">■ {E(g.Series[i].Name)}</text>");
        sb.Append("</svg>");
        return new HtmlString(sb.ToString());
    }

    /// <summary>The text equivalent's table: at most <paramref name="rows"/> evenly spread samples of every series.</summary>
    public static IHtmlContent Table(GraphSpec g, int rows = 8)
    {
        var times = g.Series.SelectMany(s => s.Points.Select(p => p.At)).Distinct().Order().ToList();
        var picked = times.Count <= rows ? times : Enumerable.Range(0, rows).Select(i => times[(int)Math.Round(i * (times.Count - 1) / (double)(rows - 1))]).Distinct().ToList();
        var sb = new StringBuilder("<table class=\"graph-table\"><caption>");
        sb.Append(E(g.Title)).Append("</caption><thead><tr><th scope=\"col\">Time (UTC)</th>");
        foreach (var s in g.Series) sb.Append("<th scope=\"col\">").Append(E(s.Name)).Append("</th>");
        sb.Append("</tr></thead><tbody>");
        foreach (var at in picked)
        {
            sb.Append("<tr><td>").Append(E(Format.Utc(at))).Append("</td>");
            foreach (var s in g.Series)
            {
                var v = s.Points.LastOrDefault(p => p.At <= at).Value;
                sb.Append("<td>").Append(v is { } x ? E(g.Label(x)) : "–").Append("</td>");
            }
            sb.Append("</tr>");
        }
        if (picked.Count == 0) sb.Append("<tr><td colspan=\"").Append(g.Series.Count + 1).Append("\">No samples yet.</td></tr>");
        sb.Append("</tbody></table>");
        return new HtmlString(sb.ToString());
    }

    /// <summary>The largest value in each of <see cref="Steps"/> slices of the window, at the slice's last sample.</summary>
    private static List<(DateTime At, double? Value)> Reduce(IReadOnlyList<(DateTime At, double? Value)> points, DateTime from, double span)
    {
        if (points.Count <= Steps) return points.ToList();
        return points.GroupBy(p => (int)Math.Clamp((p.At - from).TotalSeconds / span * Steps, 0, Steps))
            .Select(g => (g.Last().At, g.Any(p => p.Value is not null) ? g.Max(p => p.Value) : null)).ToList();
    }

    /// <summary>Consecutive points with values: a missing value breaks the line.</summary>
    private static List<List<(DateTime At, double Value)>> Runs(List<(DateTime At, double? Value)> points)
    {
        var runs = new List<List<(DateTime, double)>> { new() };
        foreach (var (at, value) in points)
        {
            if (value is { } v) runs[^1].Add((at, v));
            else if (runs[^1].Count > 0) runs.Add([]);
        }
        return runs.Where(r => r.Count > 0).ToList();
    }

    /// <summary>A round top for the scale (1, 2 or 5 times a power of ten), at least 1.</summary>
    private static double Nice(double max)
    {
        if (max <= 1) return 1;
        var power = Math.Pow(10, Math.Floor(Math.Log10(max)));
        return new[] { 1.0, 2, 5, 10 }.Select(m => m * power).First(v => v >= max);
    }

    /// <summary>How long before the window's end: "48 h ago", "24 h ago", "now" (or days for longer windows).</summary>
    private static string TimeLabel(DateTime at, DateTime end, double span)
    {
        var back = (end - at).TotalSeconds;
        return back < 1 ? "now" : span <= 2 * 86_400 ? string.Create(CultureInfo.InvariantCulture, $"{back / 3600:0} h ago") : string.Create(CultureInfo.InvariantCulture, $"{back / 86_400:0} days ago");
    }

    private static string N(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);
    private static string E(string s) => WebUtility.HtmlEncode(s);
}

/// <summary>The usage graphs of the dashboard and the admin area, with the sentence each one's text equivalent starts with.</summary>
public static class UsageGraphs
{
    private const double Mb = 1_048_576;

    public static readonly TimeSpan DashboardWindow = TimeSpan.FromHours(48);
    public static readonly TimeSpan FleetWindow = TimeSpan.FromDays(30);

    /// <summary>One database's size over the window, against the account's storage limit.</summary>
    public static GraphSpec Storage(string id, string name, IReadOnlyList<UsagePoint> points, long limitBytes, DateTime now)
    {
        var from = now - DashboardWindow;
        return new GraphSpec($"storage-graph-{id}", $"Storage of {name}, last 48 hours", StorageSentence(points, limitBytes, now), from, now,
            [new GraphSeries("Size", points.Select(p => (p.At, (double?)p.SizeBytes)).ToList())],
            limitBytes, $"limit {Format.Bytes(limitBytes)}", v => Format.Bytes((long)v), Mb);
    }

    /// <summary>"Storage: 3.2 MB of 100 MB, up from 1 MB 48 h ago."</summary>
    public static string StorageSentence(IReadOnlyList<UsagePoint> points, long limitBytes, DateTime now)
    {
        if (points.Count == 0) return $"Storage: no samples yet; the account's limit is {Format.Bytes(limitBytes)}.";
        var (first, last) = (points[0], points[^1]);
        var change = last.SizeBytes > first.SizeBytes ? "up from" : last.SizeBytes < first.SizeBytes ? "down from" : "the same as";
        return $"Storage: {Format.Bytes(last.SizeBytes)} of {Format.Bytes(limitBytes)} (the account's limit), {change} {Format.Bytes(first.SizeBytes)} {Format.Ago(first.At, now)}.";
    }

    /// <summary>One database user's open connections over the window, against the per-user limit.</summary>
    public static GraphSpec Connections(string id, string name, IReadOnlyList<UsagePoint> points, int limit, DateTime now)
    {
        var counted = points.Where(p => p.Connections is not null).ToList();
        var sentence = counted.Count == 0
            ? $"Connections: no samples yet; up to {limit} at once are allowed."
            : $"Connections: {counted[^1].Connections} open at the last sample, at most {counted.Max(p => p.Connections)} in the last 48 hours, of {limit} allowed at once.";
        return new GraphSpec($"connections-graph-{id}", $"Connections of {name}, last 48 hours", sentence, now - DashboardWindow, now,
            [new GraphSeries("Connections", points.Select(p => (p.At, (double?)p.Connections)).ToList())],
            limit, $"limit {limit}", v => v.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Bytes of HepDb's databases per engine server (by id, <c>mariadb/default</c>) over the fleet window.</summary>
    public static GraphSpec FleetBytes(IReadOnlyDictionary<string, IReadOnlyList<FleetPoint>> fleet, DateTime now) =>
        new("fleet-bytes-graph", "Bytes per server, last 30 days", FleetSentence(fleet, p => Format.Bytes(p.Bytes), "stored"), now - FleetWindow, now,
            fleet.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => new GraphSeries(f.Key, f.Value.Select(p => (p.At, (double?)p.Bytes)).ToList())).ToList(),
            null, null, v => Format.Bytes((long)v), Mb);

    /// <summary>Ready databases per engine server over the fleet window.</summary>
    public static GraphSpec FleetDatabases(IReadOnlyDictionary<string, IReadOnlyList<FleetPoint>> fleet, DateTime now) =>
        new("fleet-databases-graph", "Databases per server, last 30 days", FleetSentence(fleet, p => p.Databases == 1 ? "1 database" : $"{p.Databases} databases", "now"), now - FleetWindow, now,
            fleet.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => new GraphSeries(f.Key, f.Value.Select(p => (p.At, (double?)p.Databases)).ToList())).ToList(),
            null, null, v => v.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture));

    private static string FleetSentence(IReadOnlyDictionary<string, IReadOnlyList<FleetPoint>> fleet, Func<FleetPoint, string> say, string what) =>
        fleet.Count == 0 ? "No samples yet."
            : string.Join("; ", fleet.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"{f.Key}: {say(f.Value[^1])} {what}, from {say(f.Value[0])} at {Format.Utc(f.Value[0].At)}")) + ".";
}

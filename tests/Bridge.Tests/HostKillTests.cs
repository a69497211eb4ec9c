using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Bridge.Tests;

/// <summary>
/// Issue 5, "kill the parent" from C#: a C# program (tests/FaultHost) with a ProcessPool of both
/// worker kinds, a SharedMemorySegment, a SharedLock and a SharedValue is SIGKILLed: every worker
/// and helper process exits within 2 s and its resource tracker (Bridge/Tracking) unlinks its
/// names. The Python parent's side is tests/python/test_faults.py.
/// </summary>
[NonParallelizable]  // compares /dev/shm and process lists before and after
public class HostKillTests : ProcessPoolTestBase
{
    private static readonly TimeSpan Exit = TimeSpan.FromSeconds(2);

    private static string HostPath => Path.Combine(AppContext.BaseDirectory, "FaultHost");

    [Test]
    [CancelAfter(120_000)]
    public void Sigkill_of_a_csharp_parent_leaves_no_process_and_no_name()
    {
        string? python = FindPython();
        if (python is null)
        {
            Assert.Ignore("No Python with msgpack: run scripts/setup (creates .venv) or set DOTBRIDGE_PYTHON.");
        }
        using var host = Start("pool", python);
        using var killer = new KillOnDispose(host);  // an early failed assert must not leave it running
        var info = ReadInfo(host, TimeSpan.FromSeconds(90));
        var family = Descendants(host.Id);
        family.UnionWith(info.Pids);
        var cmdlines = family.Select(CommandLine).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(cmdlines.Count(c => c.Contains("dotbridge._worker", StringComparison.Ordinal)), Is.EqualTo(2), string.Join("\n", cmdlines));
            Assert.That(cmdlines.Count(c => c.Contains("Bridge worker", StringComparison.Ordinal)), Is.EqualTo(2), string.Join("\n", cmdlines));
            Assert.That(info.Tracker, Is.Positive, "the host started a resource tracker");
            Assert.That(family, Does.Contain(info.Tracker), "the tracker is the host's child");
            Assert.That(info.Names, Has.Length.EqualTo(4), "segment, lock, and the value's segment and lock");
            Assert.That(info.Names.Where(n => !File.Exists("/dev/shm/" + n)), Is.Empty, "the names exist before the kill");
        });

        KillAndCheck(host, family, info.Names);
    }

    [Test]
    [CancelAfter(60_000)]
    public void Sigkill_right_after_the_first_create_still_unlinks_every_name()
    {
        using var host = Start("create", null);
        using var killer = new KillOnDispose(host);  // an early failed assert must not leave it running
        var info = ReadInfo(host, TimeSpan.FromSeconds(30));
        // killed while the tracker's runtime is probably still starting: it reads the records
        // waiting in its pipe, then EOF
        var family = Descendants(host.Id);
        Assert.That(info.Tracker, Is.Positive);
        Assert.That(family, Does.Contain(info.Tracker));
        Assert.That(info.Names, Has.Length.EqualTo(4));
        KillAndCheck(host, family, info.Names);
    }

    [Test]
    [CancelAfter(60_000)]
    public void The_tracker_ignores_sigint_sigterm_and_sighup_from_its_first_moment()
    {
        // FaultHost sends SIGINT, SIGTERM and SIGHUP to its tracker right after spawning it (as a
        // Ctrl-C or a hang-up reaching the whole process group would), while its runtime starts
        using var host = Start("signals", null);
        using var killer = new KillOnDispose(host);  // an early failed assert must not leave it running
        var root = JsonDocument.Parse(ReadLine(host, TimeSpan.FromSeconds(30))).RootElement;
        var info = Parse(root);
        int signalled = root.GetProperty("old_tracker").GetInt32();
        Thread.Sleep(500);
        Assert.Multiple(() =>
        {
            Assert.That(signalled, Is.Positive);
            Assert.That(info.Tracker, Is.EqualTo(signalled), "no new tracker had to be started");
            Assert.That(Alive(signalled), Is.True, "the tracker survived the signals");
        });
        KillAndCheck(host, Descendants(host.Id), info.Names);
    }

    [Test]
    [CancelAfter(60_000)]
    public void A_killed_tracker_is_reaped_and_replaced_and_the_new_one_knows_every_name()
    {
        using var host = Start("restart", null);
        using var killer = new KillOnDispose(host);  // an early failed assert must not leave it running
        string line = ReadLine(host, TimeSpan.FromSeconds(30));
        var root = JsonDocument.Parse(line).RootElement;
        var info = Parse(root);
        int old = root.GetProperty("old_tracker").GetInt32();
        var family = Descendants(host.Id);
        Assert.Multiple(() =>
        {
            Assert.That(old, Is.Positive);
            Assert.That(root.GetProperty("old_tracker_state").GetString(), Is.EqualTo("gone"), "the dead tracker was reaped, not left a zombie");
            Assert.That(info.Tracker, Is.Positive.And.Not.EqualTo(old), "a new tracker runs");
            Assert.That(family, Does.Contain(info.Tracker));
            Assert.That(info.Names, Has.Length.EqualTo(5));
        });
        // the names made before the restart were registered again with the new tracker
        KillAndCheck(host, family, info.Names);
    }

    [Test]
    [CancelAfter(60_000)]
    public void A_process_that_creates_nothing_starts_no_tracker()
    {
        using var host = Start("idle", null);
        using var killer = new KillOnDispose(host);  // an early failed assert must not leave it running
        var info = ReadInfo(host, TimeSpan.FromSeconds(30));
        Assert.Multiple(() =>
        {
            Assert.That(info.Tracker, Is.Zero);
            Assert.That(Descendants(host.Id), Is.Empty);
        });
        host.Kill();
        Assert.That(host.WaitForExit(10_000), Is.True);
    }

    [Test]
    [CancelAfter(60_000)]
    public void At_a_normal_exit_the_tracker_exits_silently_and_nothing_is_left()
    {
        using var host = Start("exit", null);
        using var killer = new KillOnDispose(host);  // an early failed assert must not leave it running
        var info = ReadInfo(host, TimeSpan.FromSeconds(30));
        var stderr = host.StandardError.ReadToEndAsync();
        Assert.That(host.WaitForExit(30_000), Is.True, "the host exits");
        Assert.Multiple(() =>
        {
            Assert.That(host.ExitCode, Is.Zero);
            Assert.That(info.Tracker, Is.Positive);
            Assert.That(WaitGone([info.Tracker], Exit), Is.Empty, "the tracker does not outlive its creator");
            Assert.That(WaitUnlinked(info.Names, Exit), Is.Empty, "ProcessExit unlinked the names");
            Assert.That(stderr.Wait(10_000) ? stderr.Result : "(stderr still open)", Is.Empty,
                "the tracker reports no leak: the exit hooks unregistered what they unlinked");
        });
        foreach (string name in info.Names)
        {
            File.Delete("/dev/shm/" + name);
        }
    }

    private static void KillAndCheck(Process host, HashSet<int> family, string[] names)
    {
        try
        {
            host.Kill();  // SIGKILL
            Assert.That(host.WaitForExit(10_000), Is.True, "the host died");
            var left = WaitGone(family, Exit);
            var leftNames = WaitUnlinked(names, Exit);
            TestContext.Out.WriteLine($"{family.Count} processes, {names.Length} names; left: {left.Count} processes, {leftNames.Count} names");
            Assert.Multiple(() =>
            {
                Assert.That(left.Select(CommandLine), Is.Empty, "every worker and helper exits within 2 s");
                Assert.That(leftNames, Is.Empty, "no shared memory segment or semaphore is left");
            });
        }
        finally
        {
            foreach (int pid in family)
            {
                if (Alive(pid))
                {
                    try
                    {
                        Process.GetProcessById(pid).Kill();
                    }
                    catch (ArgumentException)
                    {
                        // gone meanwhile
                    }
                    catch (InvalidOperationException)
                    {
                        // gone meanwhile
                    }
                }
            }
            foreach (string name in names)
            {
                File.Delete("/dev/shm/" + name);  // no-op when the tracker did its job
            }
        }
    }

    private sealed record HostInfo(int Pid, int[] Pids, string[] Names, int Tracker);

    /// <summary>SIGKILLs the host (only the host: its tracker then cleans up) if it still runs.</summary>
    private sealed class KillOnDispose(Process host) : IDisposable
    {
        public void Dispose()
        {
            try
            {
                if (!host.HasExited)
                {
                    host.Kill();
                    host.WaitForExit(10_000);
                }
            }
            catch (InvalidOperationException)
            {
                // already gone
            }
        }
    }

    private static Process Start(string mode, string? python, params string[] more)
    {
        if (!File.Exists(HostPath))
        {
            Assert.Fail($"{HostPath} is missing (Bridge.Tests references tests/FaultHost, which should put it there)");
        }
        var info = new ProcessStartInfo(HostPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(mode);
        foreach (var a in more)
        {
            info.ArgumentList.Add(a);
        }
        if (python is not null)
        {
            info.Environment["DOTBRIDGE_PYTHON"] = python;
        }
        info.Environment.Remove("DOTBRIDGE_TRACKER");
        return Process.Start(info)!;
    }

    private static string ReadLine(Process host, TimeSpan timeout)
    {
        var line = host.StandardOutput.ReadLineAsync();
        if (!line.Wait(timeout) || line.Result is null)
        {
            host.Kill(entireProcessTree: true);
            Assert.Fail($"FaultHost printed nothing within {timeout}: {host.StandardError.ReadToEnd()}");
        }
        return line.Result!;
    }

    private static HostInfo ReadInfo(Process host, TimeSpan timeout) => Parse(JsonDocument.Parse(ReadLine(host, timeout)).RootElement);

    private static HostInfo Parse(JsonElement root)
    {
        return new HostInfo(
            root.GetProperty("pid").GetInt32(),
            root.GetProperty("pids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            root.GetProperty("names").EnumerateArray().Select(e => e.GetString()!).ToArray(),
            root.GetProperty("tracker").GetInt32());
    }

    private static List<string> WaitUnlinked(string[] names, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var left = names.Where(n => File.Exists("/dev/shm/" + n)).ToList();
            if (left.Count == 0 || sw.Elapsed > timeout)
            {
                return left;
            }
            Thread.Sleep(20);
        }
    }

    private static List<int> WaitGone(IEnumerable<int> pids, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var left = pids.Where(Alive).ToList();
            if (left.Count == 0 || sw.Elapsed > timeout)
            {
                return left;
            }
            Thread.Sleep(20);
        }
    }

    private static string? Stat(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..];
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Running (not gone, not a zombie).</summary>
    private static bool Alive(int pid) => Stat(pid) is { } rest && rest[0] != 'Z';

    private static string CommandLine(int pid)
    {
        try
        {
            return pid + ": " + File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        }
        catch (IOException)
        {
            return pid + ": (gone)";
        }
    }

    private static HashSet<int> Descendants(int root)
    {
        var parents = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out int pid) && Stat(pid) is { } rest && rest[0] != 'Z')
            {
                parents[pid] = int.Parse(rest.Split(' ')[1], CultureInfo.InvariantCulture);
            }
        }
        var family = new HashSet<int>();
        var frontier = new List<int> { root };
        while (frontier.Count > 0)
        {
            frontier = parents.Where(kv => frontier.Contains(kv.Value) && family.Add(kv.Key)).Select(kv => kv.Key).ToList();
        }
        return family;
    }
}

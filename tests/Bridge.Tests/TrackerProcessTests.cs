using System.Diagnostics;
using System.Text;
using Bridge.Tracking;

namespace Bridge.Tests;

/// <summary>
/// The tracker process itself (<c>Bridge tracker &lt;pid&gt;</c>, Bridge/Tracking/TrackerProcess.cs),
/// driven through its stdin the way ResourceTracker does: records split anywhere, unregister,
/// names it must refuse, EOF. The whole story with a real creator:
/// HostKillTests.
/// </summary>
public class TrackerProcessTests
{
    private static string Tracker => Path.Combine(AppContext.BaseDirectory, "Bridge");

    private static Process StartTracker()
    {
        var info = new ProcessStartInfo(Tracker)
        {
            RedirectStandardInput = true,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("tracker");
        info.ArgumentList.Add(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        info.Environment["DOTNET_EnableDiagnostics"] = "0";
        return Process.Start(info)!;
    }

    private static byte[] Record(char op, byte kind, string name) =>
        [(byte)op, kind, .. Encoding.UTF8.GetBytes(name), 0];

    [Test]
    [CancelAfter(60_000)]
    public void At_eof_it_unlinks_what_is_still_registered_and_nothing_else()
    {
        using var kept = SharedMemorySegment.Create(64);      // registered, then unregistered: must survive
        using var leaked = SharedMemorySegment.Create(64);    // registered: must be unlinked
        using var leakedLock = SharedLock.Create();           // registered: must be unlinked
        string outside = Path.Combine(Path.GetTempPath(), "tracker-test-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(outside, "x");
        using var tracker = StartTracker();
        try
        {
            var records = new List<byte>();
            records.AddRange(Record('R', ResourceTracker.Segment, kept.Name));
            records.AddRange(Record('R', ResourceTracker.Segment, leaked.Name));
            records.AddRange(Record('R', ResourceTracker.Semaphore, leakedLock.Name));
            records.AddRange(Record('R', ResourceTracker.Segment, "../../" + outside.TrimStart('/')));  // refused: not a plain name
            records.AddRange(Record('U', ResourceTracker.Segment, kept.Name));
            var stdin = tracker.StandardInput.BaseStream;
            foreach (byte b in records)  // one byte per write: records split anywhere
            {
                stdin.WriteByte(b);
                stdin.Flush();
            }
            var stderr = tracker.StandardError.ReadToEndAsync();
            tracker.StandardInput.Close();  // EOF: the creator is gone
            Assert.That(tracker.WaitForExit(10_000), Is.True, "it exits at EOF");
            Assert.Multiple(() =>
            {
                Assert.That(tracker.ExitCode, Is.Zero);
                Assert.That(File.Exists("/dev/shm/" + kept.Name), Is.True, "an unregistered name is left alone");
                Assert.That(File.Exists("/dev/shm/" + leaked.Name), Is.False, "a registered segment is unlinked");
                Assert.That(File.Exists("/dev/shm/sem." + leakedLock.Name.TrimStart('/')), Is.False, "a registered semaphore is unlinked");
                Assert.That(File.Exists(outside), Is.True, "a name with a slash is refused");
                Assert.That(stderr.Wait(10_000) ? stderr.Result : "", Does.Contain(leaked.Name).And.Contain("2 shared memory name(s)"));
            });
        }
        finally
        {
            if (!tracker.HasExited)
            {
                tracker.Kill();
            }
            File.Delete(outside);
            kept.Unlink();
            leaked.Unlink();
            leakedLock.Unlink();
        }
    }

    [Test]
    [CancelAfter(60_000)]
    public void With_nothing_registered_it_exits_silently()
    {
        using var tracker = StartTracker();
        var stderr = tracker.StandardError.ReadToEndAsync();
        tracker.StandardInput.Close();
        Assert.That(tracker.WaitForExit(10_000), Is.True);
        Assert.Multiple(() =>
        {
            Assert.That(tracker.ExitCode, Is.Zero);
            Assert.That(stderr.Wait(10_000) ? stderr.Result : "(open)", Is.Empty);
        });
    }
}

using System.Diagnostics;
using System.Runtime.InteropServices;
using Bridge.Interop;

namespace Interop.Tests;

/// <summary>Call-overhead measurement: <c>dotnet test tests/Interop.Tests --artifacts-path /tmp/art-interop -c Release
/// --filter "FullyQualifiedName~BenchmarkTests" --logger "console;verbosity=detailed"</c>.</summary>
/// <remarks>Reports wall-clock and thread-CPU medians: on a loaded 2-core machine the wall time mostly measures
/// preemption, the thread's CPU time (CLOCK_THREAD_CPUTIME_ID) what a call itself costs.</remarks>
[NonParallelizable] // timing: runs alone
public sealed class BenchmarkTests
{
    private const int Calls = 1_000_000;
    private const int Rounds = 7;

    [Test, Explicit("Timing-based")]
    public void Typed_delegate_call_overhead()
    {
        using var g = Py.Exec("def f(x):\n    return x + 1\n");
        using var f = g["f"];
        var typed = f.GetFunction<long, long>();
        var (typedWall, typedCpu) = Median("typed Func<long,long>", () =>
        {
            long acc = 0;
            for (long i = 0; i < Calls; i++) acc = typed(acc);
            if (acc != Calls) throw new InvalidOperationException("wrong result");
        }, Calls);
        var (boxedWall, boxedCpu) = Median("PyObject.Call<long>", () =>
        {
            for (long i = 0; i < Calls / 10; i++) f.Call<long>(i);
        }, Calls / 10);
        TestContext.Out.WriteLine($"typed Func<long,long>: median {typedWall:F1} ns/call wall, {typedCpu:F1} ns/call thread CPU ({Rounds} x {Calls} calls)");
        TestContext.Out.WriteLine($"PyObject.Call<long>(object[]): median {boxedWall:F1} ns/call wall, {boxedCpu:F1} ns/call thread CPU ({Rounds} x {Calls / 10} calls)");
        Assert.That(typedCpu, Is.LessThan(1000), "typed calls should stay well under a microsecond");
    }

    private static (double Wall, double Cpu) Median(string name, Action round, int callsPerRound)
    {
        round(); // warm-up (JIT, thread state)
        var wall = new double[Rounds];
        var cpu = new double[Rounds];
        for (int r = 0; r < Rounds; r++)
        {
            long cpu0 = ThreadCpuNs();
            var sw = Stopwatch.StartNew();
            round();
            wall[r] = sw.Elapsed.TotalNanoseconds / callsPerRound;
            cpu[r] = (ThreadCpuNs() - cpu0) / (double)callsPerRound;
        }
        Array.Sort(wall);
        Array.Sort(cpu);
        TestContext.Out.WriteLine($"  {name} rounds, sorted ns/call: wall {string.Join(", ", wall.Select(x => x.ToString("F1")))}; cpu {string.Join(", ", cpu.Select(x => x.ToString("F1")))}");
        return (wall[Rounds / 2], cpu[Rounds / 2]);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out Timespec ts);

    private static long ThreadCpuNs()
    {
        const int ClockThreadCpuTimeId = 3;
        _ = ClockGetTime(ClockThreadCpuTimeId, out var ts);
        return ts.Seconds * 1_000_000_000 + ts.Nanoseconds;
    }
}

using System.Diagnostics;
using Bridge.Interop;

namespace Interop.Tests;

/// <summary>Call-overhead measurement: <c>dotnet test tests/Interop.Tests --artifacts-path /tmp/art-interop -c Release
/// --filter "FullyQualifiedName~BenchmarkTests" --logger "console;verbosity=detailed"</c>.</summary>
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
        var typedNs = Median(() =>
        {
            long acc = 0;
            for (long i = 0; i < Calls; i++) acc = typed(acc);
            if (acc != Calls) throw new InvalidOperationException("wrong result");
        }, Calls);
        var boxedNs = Median(() =>
        {
            for (long i = 0; i < Calls / 10; i++) f.Call<long>(i);
        }, Calls / 10);
        TestContext.Out.WriteLine($"typed Func<long,long>: median {typedNs:F1} ns/call over {Rounds} x {Calls} calls");
        TestContext.Out.WriteLine($"PyObject.Call<long>(object[]): median {boxedNs:F1} ns/call over {Rounds} x {Calls / 10} calls");
        Assert.That(typedNs, Is.LessThan(1000), "typed calls should stay well under a microsecond");
    }

    private static double Median(Action round, int callsPerRound)
    {
        round(); // warm-up (JIT, thread state)
        var samples = new double[Rounds];
        for (int r = 0; r < Rounds; r++)
        {
            var sw = Stopwatch.StartNew();
            round();
            samples[r] = sw.Elapsed.TotalNanoseconds / callsPerRound;
        }
        Array.Sort(samples);
        TestContext.Out.WriteLine($"  rounds (ns/call, sorted): {string.Join(", ", samples.Select(x => x.ToString("F1")))}");
        return samples[Rounds / 2];
    }
}

using System.Runtime.InteropServices;
using Bridge.Interop;

namespace Interop.Tests;

/// <summary>Python calling back into .NET through ctypes, on Python's own threads.</summary>
public sealed unsafe class CallbackTests
{
    [UnmanagedCallersOnly]
    private static long Factorial(long x)
    {
        using var gil = Gil.Acquire();
        using var math = Py.Import("math");
        return math.GetAttr("factorial").Call<long>(x);
    }

    [TestCase("PYFUNCTYPE", Description = "GIL held by the calling Python thread: .NET must not release it")]
    [TestCase("CFUNCTYPE", Description = "ctypes released the GIL: .NET takes it with that thread's own state")]
    public void Python_thread_calls_into_dotnet_which_calls_python(string prototype)
    {
        delegate* unmanaged<long, long> fn = &Factorial;
        using var g = Py.Exec(
            "import ctypes, threading\n" +
            "def run(addr, kind):\n" +
            "    f = getattr(ctypes, kind)(ctypes.c_int64, ctypes.c_int64)(addr)\n" +
            "    out = []\n" +
            "    def body():\n" +
            "        for n in range(1, 8):\n" +
            "            out.append(f(n))\n" +
            "    threads = [threading.Thread(target=body) for _ in range(3)]\n" +
            "    for t in threads: t.start()\n" +
            "    for t in threads: t.join(30)\n" +
            "    assert not any(t.is_alive() for t in threads), 'callback thread hung'\n" +
            "    out.append(f(10))  # and on the calling thread, where .NET already holds the GIL\n" +
            "    return sorted(out)\n");
        var result = g["run"].Call<long[]>((long)(nint)fn, prototype);
        var expected = Enumerable.Repeat(new long[] { 1, 2, 6, 24, 120, 720, 5040 }, 3).SelectMany(x => x).Append(3628800).Order();
        Assert.That(result, Is.EqualTo(expected));
        Assert.That(Gil.IsHeld, Is.False);
        // The GIL is free again: another .NET thread can take it.
        var other = Task.Run(() => Py.Eval("6 * 7").As<int>());
        Assert.That(other.Wait(TimeSpan.FromSeconds(30)), Is.True, "GIL left held");
        Assert.That(other.Result, Is.EqualTo(42));
    }
}

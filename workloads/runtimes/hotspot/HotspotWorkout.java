// Exercises HotSpot's tiered JIT and the places where HotSpot relies on its
// own SIGSEGV/SIGFPE handling, with deterministic output:
//  - a hot interface call site whose receiver types change after C2 has
//    compiled it (uncommon trap, deoptimisation, recompilation), and a
//    class-hierarchy assumption broken by loading a new subclass;
//  - implicit null checks (a hot field load on a null reference) and
//    implicit division-by-zero checks, caught as exceptions;
//  - stack banging (deep recursion caught as StackOverflowError);
//  - safepoints: System.gc() and several threads compiling and allocating.
// Run: java HotspotWorkout.java, or javac it and java -cp DIR HotspotWorkout.
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

public class HotspotWorkout {
    interface Shape { long area(int k); }
    static final class Square implements Shape {
        final int s; Square(int s) { this.s = s; }
        public long area(int k) { return (long) s * s + k; }
    }
    static final class Rect implements Shape {
        final int w, h; Rect(int w, int h) { this.w = w; this.h = h; }
        public long area(int k) { return (long) w * h - k; }
    }
    static final class Tri implements Shape {
        final int b, h; Tri(int b, int h) { this.b = b; this.h = h; }
        public long area(int k) { return ((long) b * h) / 2 + (k & 7); }
    }
    static final class Circle implements Shape {
        final int r; Circle(int r) { this.r = r; }
        public long area(int k) { return 355L * r * r / 113 ^ k; }
    }

    // The call site: monomorphic, then bimorphic, then megamorphic.
    static long sumAreas(Shape[] shapes, int rounds) {
        long acc = 17;
        for (int r = 0; r < rounds; r++) {
            for (Shape s : shapes) acc = acc * 31 + s.area(r);
        }
        return acc;
    }

    static Shape[] shapes(int kinds, int n) {
        Shape[] a = new Shape[n];
        for (int i = 0; i < n; i++) {
            switch (i % kinds) {
                case 0: a[i] = new Square(i % 50 + 1); break;
                case 1: a[i] = new Rect(i % 30 + 1, i % 17 + 2); break;
                case 2: a[i] = new Tri(i % 40 + 2, i % 13 + 3); break;
                default: a[i] = new Circle(i % 20 + 1); break;
            }
        }
        return a;
    }

    // Class hierarchy analysis: while Dog is the only Animal loaded, C2
    // binds sound() directly; loading Cat invalidates that code.
    abstract static class Animal { abstract int sound(int x); }
    static final class Dog extends Animal { int sound(int x) { return x * 3 + 1; } }
    static final class Cat extends Animal { int sound(int x) { return x * 5 - 2; } }

    static int chorus(Animal a, int n) {
        int s = 0;
        for (int i = 0; i < n; i++) s += a.sound(i);
        return s;
    }

    // A branch never taken while C2 compiles: taking it is an uncommon trap.
    static int rare(int x) {
        if (x == 987_654_321) return Integer.bitCount(x) * 1000;
        return (x ^ (x >>> 3)) & 0xffff;
    }

    static final class Node { int v; Node(int v) { this.v = v; } }

    static int readV(Node n) { return n.v; }

    static int quotient(int a, int b) { return a / b; }

    static int depth = 0;
    static void recurse() { depth++; recurse(); }

    static long mixLong(long h, long x) {
        h ^= x;
        h *= 0x100000001b3L;
        return h ^ (h >>> 29);
    }

    public static void main(String[] args) throws Exception {
        // 1. Type profile changes at one call site.
        System.out.println("mono: " + sumAreas(shapes(1, 1000), 1000));
        System.out.println("bi: " + sumAreas(shapes(2, 1000), 1000));
        System.out.println("mega: " + sumAreas(shapes(4, 1000), 1000));

        // 2. CHA dependency broken by class loading.
        Animal dog = new Dog();
        long c = 0;
        for (int r = 0; r < 1000; r++) c += chorus(dog, 1000);
        Animal cat = new Cat();
        for (int r = 0; r < 1000; r++) c += chorus((r & 1) == 0 ? dog : cat, 1000);
        System.out.println("chorus: " + c);

        // 3. Uncommon trap on a cold branch.
        long rs = 0;
        for (int i = 0; i < 1_000_000; i++) rs += rare(i);
        rs += rare(987_654_321);
        for (int i = 0; i < 100_000; i++) rs += rare(i * 7);
        System.out.println("rare: " + rs);

        // 4. Implicit null checks in compiled code.
        Node[] nodes = new Node[64];
        for (int i = 0; i < nodes.length; i++) nodes[i] = new Node(i * i);
        long sum = 0;
        int npes = 0;
        for (int i = 0; i < 1_000_000; i++) {
            Node n = (i % 50_000 == 49_999) ? null : nodes[i & 63];
            try {
                sum += readV(n);
            } catch (NullPointerException e) {
                npes++; // not e.getMessage(): C2's fast throw has none
            }
        }
        System.out.println("nulls: sum " + sum + ", " + npes + " NullPointerExceptions");

        // 5. Division by zero in compiled code.
        long q = 0;
        int divZero = 0;
        for (int i = 0; i < 1_000_000; i++) {
            try {
                q += quotient(i * 7 + 3, i % 40_000 == 0 ? 0 : (i & 31) + 1);
            } catch (ArithmeticException e) {
                divZero++;
            }
        }
        System.out.println("division: " + q + ", " + divZero + " ArithmeticExceptions");

        // 6. Stack banging: overflow the stack, in the main thread and in a
        // thread with a small stack; the depth reached is not printed, it
        // varies from run to run.
        int overflows = 0;
        for (int r = 0; r < 3; r++) {
            depth = 0;
            try { recurse(); } catch (StackOverflowError e) { overflows++; }
        }
        int[] small = new int[1];
        Thread t = new Thread(null, () -> {
            try { recurse(); } catch (StackOverflowError e) { small[0]++; }
        }, "small-stack", 256 * 1024);
        t.start();
        t.join();
        System.out.println("stack overflows caught: " + overflows + " + " + small[0]);

        // 7. Safepoints: threads that allocate, compile and are stopped by
        // System.gc(); each thread's result is its own, so the output is fixed.
        final int threads = 3;
        long[] results = new long[threads];
        List<Thread> workers = new ArrayList<>();
        for (int w = 0; w < threads; w++) {
            final int id = w;
            Thread th = new Thread(() -> {
                long h = 0xcbf29ce484222325L + id;
                TreeMap<Integer, String> map = new TreeMap<>();
                for (int i = 0; i < 200_000; i++) {
                    String s = Integer.toHexString(i * (id + 3));
                    map.put(i % 5000, s);
                    h = mixLong(h, s.hashCode());
                }
                for (var e : map.entrySet()) h = mixLong(h, e.getKey() * 31L + e.getValue().length());
                results[id] = h;
            }, "worker-" + w);
            workers.add(th);
            th.start();
        }
        for (int g = 0; g < 3; g++) System.gc();
        for (Thread th : workers) th.join();
        StringBuilder sb = new StringBuilder("threads:");
        for (long r : results) sb.append(' ').append(Long.toHexString(r));
        System.out.println(sb);
    }
}

fn main(){println!("{}", jitguard::x());}

package dataset

import (
	"math/rand/v2"
	"slices"
	"strings"
	"unicode/utf8"
)

// The text of the exchanges comes from small phrase banks: sentence
// templates whose slots are filled from word lists. Real words make the text
// read like prompts and replies; pseudo-words built from syllables, drawn
// with a Zipf distribution, give the corpus the long tail of rare terms that
// makes a term query selective (a few thousand distinct words per language).
// Nothing is read from outside the package.

// Lang is the language of a conversation.
type Lang uint8

// The languages of the dataset. English is the most common; see Options for
// the mix.
const (
	English Lang = iota
	Chinese
	Japanese
	numLangs
)

// String returns the language's ISO 639-1 code.
func (l Lang) String() string {
	switch l {
	case English:
		return "en"
	case Chinese:
		return "zh"
	case Japanese:
		return "ja"
	}
	return "?"
}

// slot is what fills one hole of a template.
type slot uint8

const (
	slotLit     slot = iota
	slotNoun         // {n}  a technical or everyday noun
	slotVerb         // {v}  a verb, base form
	slotVing         // {ving} the same verbs' gerund (English)
	slotAdj          // {a}  an adjective
	slotTech         // {t}  a technology or product name
	slotPseudo       // {x}  a pseudo-word: a project, function or place name
	slotName         // {X}  a pseudo-word as a person's name
	slotGeneral      // {g}  an everyday undertaking: a trip, a wedding
	slotPlace        // {p}  a city
	slotNum          // {num} a number
	slotBody         // {s}  a whole reply sentence
)

var slotNames = map[string]slot{
	"n": slotNoun, "v": slotVerb, "ving": slotVing, "a": slotAdj, "t": slotTech,
	"x": slotPseudo, "X": slotName, "g": slotGeneral, "p": slotPlace, "num": slotNum, "s": slotBody,
}

// part is a literal or a slot of a template.
type part struct {
	lit  string
	slot slot
}

// template is a compiled sentence pattern such as "How do I {v} the {n}?".
type template []part

// compile parses a pattern; it panics on an unknown slot, which only a
// change to this file can cause.
func compile(src string) template {
	var t template
	for src != "" {
		i := strings.IndexByte(src, '{')
		if i < 0 {
			t = append(t, part{lit: src})
			break
		}
		if i > 0 {
			t = append(t, part{lit: src[:i]})
		}
		j := strings.IndexByte(src[i:], '}')
		if j < 0 {
			panic("dataset: bad template " + src)
		}
		s, ok := slotNames[src[i+1:i+j]]
		if !ok {
			panic("dataset: bad template " + src)
		}
		t = append(t, part{slot: s})
		src = src[i+j+1:]
	}
	return t
}

func compileAll(srcs []string) []template {
	ts := make([]template, len(srcs))
	for i, s := range srcs {
		ts[i] = compile(s)
	}
	return ts
}

// bank is one language's words and templates.
type bank struct {
	lang    Lang
	sep     string // between sentences
	nouns   []string
	verbs   []string
	vings   []string
	adjs    []string
	general []string
	places  []string
	pseudo  []string // Zipf-ranked: the first are the most frequent
	names   []string // pseudo-words as names; drawn like pseudo

	system  []template
	opening []template // a first user message
	follow  []template // a later user message in the same conversation
	context []template // introduces pasted material in a long user message
	greet   []template // opens a reply
	body    []template // reply sentences
	close   []template // ends a reply
	fillers []string   // short phrases that top a message up to its size
}

// numbers are what {num} becomes.
var numbers = []string{"2", "3", "4", "5", "8", "10", "12", "15", "20", "24", "30", "50", "64", "100", "128", "200", "256", "500", "1000", "5000", "10000", "50000"}

// techs are shared by every language: people write product names as they are.
var techs = []string{
	"Python", "Go", "Rust", "TypeScript", "JavaScript", "Java", "Kotlin", "Swift", "C++", "Ruby",
	"PHP", "Elixir", "Haskell", "Scala", "Bash", "PostgreSQL", "MySQL", "SQLite", "Redis", "MongoDB",
	"Kafka", "RabbitMQ", "Elasticsearch", "ClickHouse", "DuckDB", "Kubernetes", "Docker", "Terraform", "Ansible", "Nginx",
	"Caddy", "AWS Lambda", "S3", "BigQuery", "Azure", "Cloudflare", "Vercel", "React", "Vue", "Svelte",
	"Next.js", "Django", "Flask", "FastAPI", "Rails", "Spring Boot", "Express", "htmx", "Tailwind", "GraphQL",
	"gRPC", "WebSockets", "OAuth", "JWT", "Git", "GitHub Actions", "Jenkins", "Prometheus", "Grafana", "OpenTelemetry",
	"PyTorch", "pandas", "NumPy", "LangChain", "Excel", "Notion", "Figma", "Airflow", "Spark", "Snowflake",
}

var english = &bank{
	lang: English,
	sep:  " ",
	nouns: strings.Split("database|cache|endpoint|query|index|table|schema|migration|container|cluster|pod|service|function|method|class|"+
		"module|package|library|dependency|build|pipeline|test suite|benchmark|request|response|header|cookie|session|token|certificate|"+
		"proxy|load balancer|server|client|socket|thread|goroutine|process|queue|worker|job|scheduler|cron job|log file|metric|"+
		"dashboard|alert|trace|bucket|directory|config file|environment variable|secret|password|account|role|permission|policy|firewall|"+
		"network|subnet|DNS record|domain|router|handler|middleware|template|component|form|button|layout|stylesheet|script|bundle|"+
		"upload|backup|snapshot|replica|shard|partition|transaction|lock|deadlock|connection pool|timeout|retry loop|exception|stack trace|"+
		"memory leak|regression|feature flag|release|deployment|rollback|branch|commit|pull request|merge conflict|repository|ticket|sprint|"+
		"roadmap|spreadsheet|report|invoice|budget|contract|proposal|resume|cover letter|email|newsletter|blog post|essay|recipe|itinerary|"+
		"workout plan|lesson plan|webhook|event stream|payload|CSV export|regex|array|struct|interface|pointer|variable|callback|closure|"+
		"iterator|parser|compiler|linter|embedding|prompt|dataset|checkpoint|tokenizer|GPU|disk|volume|cron schedule|landing page|"+
		"onboarding flow|checkout page|search bar|admin panel|audit log|rate limiter|message broker|state machine|worker pool|read replica", "|"),
	verbs: strings.Split("configure|deploy|debug|optimize|refactor|test|write|rewrite|explain|summarize|translate|review|fix|install|upgrade|"+
		"migrate|monitor|profile|cache|index|parse|validate|serialize|encrypt|compress|paginate|sort|filter|merge|split|"+
		"rename|delete|restore|scale|benchmark|document|design|plan|draft|structure|organize|schedule|automate|secure|patch|"+
		"rotate|export|import|convert|format|render|compute|estimate|compare|measure|analyze|visualize|implement|simplify|tune|"+
		"mock|retry|throttle|shard|replicate|audit|log|trace|package|publish|bundle|lint|cancel|stream|batch", "|"),
	adjs: strings.Split("simple|robust|fast|slow|reliable|scalable|concurrent|readable|minimal|secure|flaky|legacy|modern|lightweight|"+
		"efficient|clean|idiomatic|distributed|stateless|incremental|parallel|cheap|expensive|large|small|nested|recursive|typed|"+
		"generic|custom|internal|external|public|private|shared|temporary|persistent|consistent|atomic|lazy|friendly|formal|"+
		"casual|concise|detailed|short|polite|professional|purple|quiet|careful|creative|practical|honest|cheerful|stable|noisy|"+
		"strict|verbose|elegant|brittle|portable", "|"),
	general: strings.Split("meeting|trip|garden party|wedding|birthday party|job interview|marathon|vacation|family dinner|presentation|"+
		"book club|podcast|product launch|conference talk|workshop|team offsite|performance review|grant application|thesis|"+
		"research paper|lecture|exam|novel|short story|song|speech|toast|apology letter|product description|press release|"+
		"user manual|onboarding guide|training plan|diet plan|reading list|playlist|game night|hiking route|road trip|house move|"+
		"kitchen renovation|tax return|car repair|dog adoption|bike tour|charity run|science fair|cooking class", "|"),
	places: strings.Split("Paris|Lisbon|Tokyo|Osaka|Seoul|Taipei|Singapore|Sydney|Toronto|Vancouver|Chicago|Austin|Denver|Boston|"+
		"Madrid|Barcelona|Rome|Vienna|Prague|Amsterdam|Dublin|Edinburgh|Oslo|Stockholm|Helsinki|Warsaw|Istanbul|Cairo|Nairobi|"+
		"Cape Town|Mumbai|Bangalore|Hanoi|Bangkok|Mexico City|Lima|Buenos Aires|Montreal|Seattle|Munich", "|"),
	system: compileAll([]string{
		"You are a helpful assistant.",
		"You are a helpful assistant. Answer concisely and use Markdown.",
		"You are a senior {t} engineer. Give short, correct answers with code when useful.",
		"You are {X}, the support assistant of {x}. Be polite and brief, and never invent features.",
		"You are a friendly writing coach. Keep the author's voice.",
		"You are a travel planner. Ask one clarifying question when the request is vague.",
		"You are a code reviewer for a team that uses {t} and {t}. Point out bugs first, style second.",
		"You are a data analyst. Explain numbers in plain words and show the query you would run.",
		"You are an expert in {t}. If you are not sure, say so.",
		"Answer in English. Keep answers under three paragraphs unless asked for more.",
		"You are the internal assistant of the {x} team. Today is a workday; be practical.",
		"You are a patient tutor. Explain step by step and check understanding at the end.",
	}),
	opening: compileAll([]string{
		"How do I {v} the {n} in {t}?",
		"Can you explain why my {n} keeps {ving} when I {v} the {n}?",
		"Write a short {g} plan for my team, in a {a} tone.",
		"I'm getting an error from {x}: the {n} is not {a}. What does it mean?",
		"What is the best way to {v} the {n} with {t} and {t}?",
		"Please {v} this {n} so it is more {a}.",
		"Compare {t} and {t} for {ving} the {n}.",
		"My {n} in {t} is too slow. How can I {v} it?",
		"Give me three ideas for a {a} {g} in {p}.",
		"Summarize the discussion about {x} and the {n} we had yesterday.",
		"Is it safe to {v} the {n} while the {n} is still running?",
		"Translate this to French: the {n} of {x} should stay {a}.",
		"Draft an email to {X} about the {g} next week.",
		"We use {t} with {t}. Should we {v} the {n} before or after the {n}?",
		"Why does {x} return an empty {n} after I {v} it?",
		"Help me plan a {a} {g} in {p} for {num} people.",
		"Can you review my {n}? It uses {t} and feels {a}.",
		"What does the {x} option do in {t}?",
		"Rewrite the following paragraph in a {a} tone: {s}",
		"List the steps to {v} the {n} on {t}.",
		"How much memory does the {n} need when {ving} {num} records?",
		"Explain the difference between the {n} and the {n} like I am new to {t}.",
		"Our {n} called {x} fails every {num} minutes. Where should I start?",
		"Write a {a} unit test for the {x} function.",
		"What are common mistakes when {ving} the {n} in {t}?",
		"Suggest a {a} outline for a {g} about {x}.",
		"Could you turn these notes into a {g} summary? {s}",
		"Which is cheaper for {ving} the {n}: {t} or {t}?",
		"I need a name for a {a} {n} that helps people {v} their {n}.",
		"Our {x} service returns 500 when I {v} the {n}. Logs say the {n} timed out.",
		"Make a checklist for {ving} the {n} before the release.",
		"What would a {a} architecture for {x} look like with {t}?",
	}),
	follow: compileAll([]string{
		"Thanks! Now make the {n} more {a} and add a section on {x}.",
		"That did not work, the {n} still fails in {t}. Any other idea?",
		"Great, and how would I {v} the {n} for {p}?",
		"Can you show an example with {x} instead?",
		"Why is the {n} {a} only on {t}?",
		"OK. What if the {n} has {num} entries?",
		"Could you make it shorter and more {a}?",
		"Perfect. Can you also {v} the {n}?",
		"I tried that and got a new error from {x}. What now?",
		"Nice. How do I {v} it in {t} instead?",
		"Please rewrite the last part for {X}, who is not technical.",
		"And what about {ving} the {n} in production?",
	}),
	context: compileAll([]string{
		"Here is some context: {s}",
		"For reference, my current notes say: {s}",
		"Some background: {s}",
		"This is what I have so far: {s}",
	}),
	greet: compileAll([]string{
		"Sure!", "Good question.", "Here is one way to do it.", "Short answer: it depends on the {n}.",
		"Great idea.", "Let me break it down.", "Happy to help.", "Of course.", "Yes, that is possible.",
	}),
	body: compileAll([]string{
		"First, {v} the {n} so that the {n} stays {a}.",
		"Then {v} it with {t}, which is {a} for this kind of {n}.",
		"The error usually means that {x} could not {v} the {n} in time.",
		"In {t}, the {n} is {a} by default, so you rarely need to {v} it yourself.",
		"A {a} option is to {v} the {n} and keep the {n} small.",
		"Make sure the {n} in {x} is not shared between the {n} and the {n}.",
		"If you are {ving} more than {num} items, {v} them in batches.",
		"This keeps the {n} {a} and makes {ving} the {n} much easier.",
		"For a {g} in {p}, plan about {num} hours and keep a {a} backup plan.",
		"You can also {v} the {n} with a {a} {n} from {t}.",
		"Keep in mind that {ving} the {n} can be {a} under load.",
		"Finally, {v} the {n} and check the {n} again.",
		"Most teams {v} the {n} once a week and {v} the {n} every day.",
		"{X} would appreciate a {a} summary of the {g}.",
		"The main trade-off is between a {a} {n} and a {a} {n}.",
		"Avoid {ving} the {n} directly; {v} a copy instead.",
		"With {t} this takes about {num} lines of code.",
		"The {x} module already knows how to {v} the {n}, so reuse it.",
		"Measure before and after: the {n} should drop by roughly {num} percent.",
		"When the {n} grows past {num} rows, add an index on the {n}.",
		"I would keep {x} {a} and move the {n} into its own {n}.",
		"People in {p} usually book the {g} about {num} days ahead.",
		"If {t} is not an option, {t} can {v} the {n} too.",
		"Write the {n} first, then {v} the {n} around it.",
		"This is {a}, but it is easy to {v} later.",
		"Check the {n} of {x}: a {a} {n} there is the usual cause.",
		"Set a timeout on the {n} and {v} the {n} when it expires.",
		"The {n} and the {n} must agree, or {ving} will fail.",
	}),
	close: compileAll([]string{
		"Let me know if you want a longer version.", "Hope this helps!", "Want me to {v} the {n} next?",
		"I can also show a version in {t}.", "Tell me how it goes.", "Happy to go deeper on any step.",
	}),
	fillers: []string{"Thanks!", "Please help.", "Any ideas?", "Cheers.", "Thank you.", "Be brief.", "Urgent, sorry."},
}

var chinese = &bank{
	lang: Chinese,
	sep:  "",
	nouns: strings.Split("数据库|缓存|接口|函数|服务器|客户端|容器|集群|日志|配置文件|环境变量|索引|查询|事务|连接池|队列|线程|进程|内存|磁盘|"+
		"网络|请求|响应|页面|组件|模板|脚本|测试用例|部署流程|版本|分支|代码|项目|文档|报告|方案|预算|合同|邮件|简历|论文|会议纪要|"+
		"旅行计划|菜谱|课程|产品|用户|权限|密码|证书|域名|负载均衡|监控|告警|指标|备份|快照|迁移脚本|模型|数据集|向量|提示词|算法|框架|"+
		"插件|爬虫|表格|图表|报表|订单|库存|客户|需求|周报|演讲稿|故事|文章|定时任务|消息队列|网关|中间件|缓存策略|权限系统|搜索框", "|"),
	verbs: strings.Split("优化|部署|调试|配置|重构|测试|编写|解释|总结|翻译|检查|修复|安装|升级|迁移|监控|分析|设计|规划|实现|简化|加速|清理|"+
		"压缩|加密|备份|恢复|排序|过滤|合并|拆分|导出|导入|转换|渲染|计算|评估|比较|整理|改写|润色|审核|搭建|扩容|封装|发布", "|"),
	adjs:    strings.Split("简单|稳定|高效|可靠|安全|快速|复杂|清晰|完整|详细|简洁|正式|轻量|灵活|实用|专业|友好|通用|优雅|直观", "|"),
	general: strings.Split("周末活动|会议|婚礼|生日聚会|面试|旅行|年会|团建|家庭聚餐|读书会|发布会|演讲|培训|考试|搬家|装修|马拉松|展会", "|"),
	places:  strings.Split("北京|上海|深圳|杭州|广州|成都|南京|武汉|西安|苏州|重庆|厦门|青岛|长沙|天津|香港|台北", "|"),
	system: compileAll([]string{
		"你是一个乐于助人的助手。",
		"你是一名资深的{t}工程师，请用中文简洁地回答。",
		"你是{x}公司的客服助手，请礼貌、简短地回答用户的问题。",
		"请用中文回答，必要时给出代码示例。",
		"你是一名写作教练，帮助用户润色文章，保持原有风格。",
		"You are a helpful assistant. Always answer in Chinese.",
		"你是一名数据分析师，用通俗的语言解释数字。",
	}),
	opening: compileAll([]string{
		"请帮我{v}一下这个{n}，它在{t}里总是出错。",
		"怎么用{t}{v}{n}？有没有{a}的办法？",
		"我们的{n}叫{x}，最近{n}变得很慢，应该怎么{v}？",
		"能不能解释一下{t}和{t}在{n}方面的区别？",
		"帮我写一份关于{x}的{n}，语气正式一些。",
		"下周要在{p}办一个{g}，请给我一个{a}的安排。",
		"把下面这段话翻译成英文：{s}",
		"{x}项目的{n}报错了，提示{n}不存在，这是什么原因？",
		"我想{v}{n}，但是{t}的文档写得不太清楚。",
		"请总结一下我们关于{x}的讨论，重点是{n}和{n}。",
		"这个{n}需要{v}吗？现在大概有{num}条数据。",
		"用{t}实现一个{a}的{n}需要注意什么？",
		"{x}和{x}哪个更适合做{n}？",
		"为什么{t}的{n}会突然变得很慢？",
		"帮我给{X}写一封关于{g}的邮件。",
		"请列出{v}{n}的步骤，我们用的是{t}。",
		"我们每天要处理{num}个{n}，用{t}够不够？",
		"能帮我检查一下这个{n}吗？感觉不够{a}。",
	}),
	follow: compileAll([]string{
		"谢谢！再帮我把{n}改得更{a}一些。",
		"还是不行，{n}在{t}上依然失败，还有别的办法吗？",
		"好的，那如果要在{p}的服务器上{v}呢？",
		"能换成{x}的例子吗？",
		"如果{n}有{num}条记录，还适用吗？",
		"可以再简短一点吗？",
		"我按你说的试了，{x}又报了新的错误。",
		"那在生产环境里{v}{n}要注意什么？",
	}),
	context: compileAll([]string{
		"背景是这样的：{s}",
		"这是我目前的笔记：{s}",
		"补充一下：{s}",
	}),
	greet: compileAll([]string{"好的，", "没问题。", "可以的，下面是一个思路。", "这是个好问题。", "明白了。"}),
	body: compileAll([]string{
		"首先，{v}{n}，确保{n}保持{a}。",
		"然后用{t}{v}它，这样{n}会更{a}。",
		"这个错误通常说明{x}没能及时{v}{n}。",
		"在{t}里，{n}默认是{a}的，一般不需要手动{v}。",
		"如果数据超过{num}条，建议分批{v}。",
		"另外，记得定期{v}{n}，避免{n}出问题。",
		"对于在{p}的{g}，建议提前{num}天准备。",
		"{x}的{n}可以和{n}放在一起{v}。",
		"最后，再{v}一次{n}并检查{n}。",
		"这样做的好处是{n}更{a}，也更容易{v}。",
		"需要注意的是，{v}{n}时可能会影响{n}的性能。",
		"很多团队会每周{v}一次{n}。",
		"如果不能用{t}，也可以用{t}来{v}{n}。",
		"先写好{n}，再围绕它{v}{n}。",
		"{X}会希望看到一份{a}的总结。",
		"用{t}大概只需要{num}行代码。",
		"建议给{n}加上超时，超时后自动{v}。",
		"{n}和{n}必须保持一致，否则会{v}失败。",
	}),
	close:   compileAll([]string{"希望对你有帮助！", "如果需要，我可以再写一个{t}版本。", "还有问题随时问我。", "需要的话我可以继续展开。"}),
	fillers: []string{"谢谢！", "拜托了。", "急用。", "多谢。", "麻烦了。"},
}

var japanese = &bank{
	lang: Japanese,
	sep:  "",
	nouns: strings.Split("データベース|キャッシュ|サーバー|クライアント|関数|設定ファイル|環境変数|インデックス|クエリ|トランザクション|ログ|メモリ|"+
		"ディスク|ネットワーク|リクエスト|レスポンス|ページ|コンポーネント|テンプレート|スクリプト|テスト|性能|デプロイ手順|ブランチ|コード|"+
		"プロジェクト|資料|報告書|企画書|予算|契約書|メール|履歴書|論文|議事録|旅行プラン|レシピ|授業|製品|ユーザー|権限|パスワード|"+
		"証明書|監視|アラート|バックアップ|モデル|データセット|プロンプト|アルゴリズム|フレームワーク|ライブラリ|グラフ|注文|在庫|顧客|要件", "|"),
	verbs: strings.Split("最適化|設定|実装|修正|確認|説明|要約|翻訳|検証|移行|監視|分析|設計|整理|改善|削除|追加|変更|更新|導入|比較|"+
		"計測|圧縮|暗号化|自動化|共有|公開|作成|準備|調査", "|"),
	adjs:    strings.Split("シンプル|安全|高速|丁寧|簡潔|詳細|便利|柔軟|安定|正確|自然|快適", "|"),
	general: strings.Split("週末の予定|会議|結婚式|誕生日パーティー|面接|旅行|忘年会|勉強会|発表|読書会|引っ越し|展示会", "|"),
	places:  strings.Split("東京|大阪|京都|名古屋|福岡|札幌|横浜|神戸|仙台|広島|那覇", "|"),
	system: compileAll([]string{
		"あなたは親切なアシスタントです。",
		"あなたは{t}に詳しいエンジニアです。日本語で簡潔に答えてください。",
		"あなたは{x}のサポート担当です。丁寧に、短く答えてください。",
		"日本語で回答してください。必要に応じてコード例を示してください。",
		"You are a helpful assistant. Answer in Japanese.",
	}),
	opening: compileAll([]string{
		"{t}で{n}を{v}する方法を教えてください。",
		"{n}が遅いのですが、どう{v}すればいいですか？",
		"{x}というプロジェクトの{n}でエラーが出ます。原因は何でしょうか？",
		"{t}と{t}の違いを{a}に説明してください。",
		"来週{p}で{g}があります。{a}な計画を立ててください。",
		"次の文を英語に翻訳してください：{s}",
		"{x}についての{n}を{a}にまとめてください。",
		"{n}を{v}する前に{n}を確認したほうがいいですか？",
		"{num}件のデータを{v}するには{n}が必要ですか？",
		"{X}さんに{g}についてのメールを書いてください。",
		"{t}で{a}な{n}を作るコツは？",
		"{x}と{x}はどちらが{n}に向いていますか？",
		"{n}の{v}手順を箇条書きで教えてください。",
	}),
	follow: compileAll([]string{
		"ありがとうございます。もう少し{a}にできますか？",
		"まだ{n}が失敗します。他の方法はありますか？",
		"{x}の例に置き換えてもらえますか？",
		"本番環境で{v}するときの注意点は？",
		"{num}件に増えても大丈夫ですか？",
	}),
	context: compileAll([]string{"背景を説明すると、{s}", "今のメモはこうです：{s}"}),
	greet:   compileAll([]string{"はい、", "承知しました。", "いい質問ですね。", "わかりました。"}),
	body: compileAll([]string{
		"まず、{n}を{v}して、{n}を{a}に保ちます。",
		"次に、{t}で{n}を{v}します。",
		"このエラーは、{x}が{n}を{v}できなかったことを意味します。",
		"{t}では{n}はデフォルトで{a}なので、通常は{v}する必要はありません。",
		"データが{num}件を超える場合は、分けて{v}するのがおすすめです。",
		"{p}での{g}なら、{num}日前から準備すると安心です。",
		"最後に、もう一度{n}を{v}して確認してください。",
		"この方法なら{n}がより{a}になります。",
		"{x}の{n}は{n}と一緒に{v}できます。",
		"{n}と{n}が一致していないと{v}に失敗します。",
		"{t}を使えば{num}行ほどのコードで済みます。",
		"{X}さんには{a}な要約が喜ばれると思います。",
	}),
	close:   compileAll([]string{"参考になれば幸いです。", "他に質問があれば聞いてください。", "{t}版のサンプルも用意できます。"}),
	fillers: []string{"助かります。", "お願いします。", "急ぎです。", "感謝します。"},
}

var banks = [numLangs]*bank{English: english, Chinese: chinese, Japanese: japanese}

// Sizes of the pseudo-word vocabularies.
const (
	pseudoEnglish  = 3000
	pseudoChinese  = 1500
	pseudoJapanese = 1000
)

// forbidden are words no bank may produce, so that the needles stay exactly
// as rare as planted (see needles.go).
var forbidden = []string{"berlin", "zanzibar", "elephant", "quokka", "marmoset", "琥", "珀", "鲸", "檸", "檬", "飴"}

func init() {
	// The vocabulary is fixed, whatever the generator's seed: only which
	// words are drawn depends on it.
	r := rand.New(rand.NewPCG(0x0dd5eed, 0xb0a710ad))
	english.vings = make([]string, len(english.verbs))
	for i, v := range english.verbs {
		english.vings[i] = gerund(v)
	}
	chinese.vings = chinese.verbs
	japanese.vings = japanese.verbs

	english.pseudo = pseudoWords(r, pseudoEnglish, func(r *rand.Rand) string { return syllables(r, enOnsets, enVowels, enCodas, 2+r.IntN(2)) })
	english.names = make([]string, len(english.pseudo))
	for i, w := range english.pseudo {
		english.names[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	chinese.pseudo = pseudoWords(r, pseudoChinese, func(r *rand.Rand) string {
		return hanzi[r.IntN(len(hanzi))] + hanzi[r.IntN(len(hanzi))]
	})
	chinese.names = chinese.pseudo
	japanese.pseudo = pseudoWords(r, pseudoJapanese, func(r *rand.Rand) string {
		n := 3 + r.IntN(2)
		var sb strings.Builder
		for k := range n {
			m := kana[r.IntN(len(kana))]
			if k > 0 && r.IntN(6) == 0 {
				m = "ー"
			}
			sb.WriteString(m)
		}
		return sb.String()
	})
	japanese.names = japanese.pseudo
}

// English pseudo-words: onset, vowel and coda per syllable.
var (
	enOnsets = strings.Split("b|c|d|f|g|h|j|k|l|m|n|p|r|s|t|v|w|z|br|cr|dr|fl|gr|kl|pl|pr|sk|sl|st|tr|th|sh|ch|qu|v|z", "|")
	enVowels = strings.Split("a|e|i|o|u|a|e|o|ai|ea|ou|io|y", "|")
	enCodas  = strings.Split("||||n|r|l|s|t|m|x|nd|rk|ld|st|ck|th|ng", "|")
)

// hanzi are the characters Chinese pseudo-words are made of: names of
// projects and products, as Chinese companies coin them.
var hanzi = strings.Split("星|云|河|山|海|风|光|明|华|安|宁|远|新|智|达|通|源|泰|盛|博|恒|信|创|科|腾|飞|锐|思|维|数|聚|合|立|方|圆|"+
	"青|松|竹|梅|兰|雪|晨|阳|月|辰|宇|航|迅|捷|优|品|乐|美|佳|嘉|和|元|初|启|轩|逸|鸿|鹏|翔|龙|凤|瑞|祥|福|鑫|金|银|铭|诚|"+
	"德|仁|义|文|武|墨|书|画|诗|琴|棋|岚|峰|岩|林|森|溪|泉|湖|江|川|洲|岛|原|野|田|园|禾|苗|穗|丰|谷|极|川|磐|曜|澜|霖|昊", "|")

// kana are the morae of Japanese (katakana) pseudo-words.
var kana = strings.Split("ア|イ|ウ|エ|オ|カ|キ|ク|ケ|コ|サ|シ|ス|セ|ソ|タ|チ|ツ|テ|ト|ナ|ニ|ヌ|ネ|ノ|ハ|ヒ|フ|ヘ|ホ|マ|ミ|ム|メ|モ|"+
	"ヤ|ユ|ヨ|ラ|リ|ル|レ|ロ|ワ|ガ|ギ|グ|ゲ|ゴ|ザ|ジ|ズ|ゼ|ゾ|ダ|デ|ド|バ|ビ|ブ|ベ|ボ|パ|ピ|プ|ペ|ポ", "|")

// syllables returns a word of n syllables.
func syllables(r *rand.Rand, onsets, vowels, codas []string, n int) string {
	var sb strings.Builder
	for range n {
		sb.WriteString(onsets[r.IntN(len(onsets))])
		sb.WriteString(vowels[r.IntN(len(vowels))])
		sb.WriteString(codas[r.IntN(len(codas))])
	}
	return sb.String()
}

// pseudoWords returns n distinct words made by gen, none of them a real word
// of the banks or a forbidden one.
func pseudoWords(r *rand.Rand, n int, gen func(*rand.Rand) string) []string {
	seen := map[string]bool{}
	for _, b := range banks {
		for _, list := range [][]string{b.nouns, b.verbs, b.adjs, b.general, b.places} {
			for _, w := range list {
				seen[w] = true
			}
		}
	}
	out := make([]string, 0, n)
	for len(out) < n {
		w := gen(r)
		if seen[w] || utf8.RuneCountInString(w) < 2 || slices.ContainsFunc(forbidden, func(f string) bool { return strings.Contains(w, f) }) {
			continue
		}
		seen[w] = true
		out = append(out, w)
	}
	return out
}

// gerund returns the -ing form of an English verb.
func gerund(v string) string {
	switch v {
	case "plan", "log", "split":
		return v + v[len(v)-1:] + "ing" // a short vowel doubles the consonant
	}
	if strings.HasSuffix(v, "e") && !strings.HasSuffix(v, "ee") {
		return v[:len(v)-1] + "ing"
	}
	return v + "ing"
}

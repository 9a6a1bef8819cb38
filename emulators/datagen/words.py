"""Word lists the generator draws from: common US names, trades, streets and cities with their state and ZIP."""

FIRST = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth", "William",
    "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen", "Christopher", "Lisa",
    "Daniel", "Nancy", "Matthew", "Betty", "Anthony", "Sandra", "Mark", "Ashley", "Donald", "Kimberly", "Steven",
    "Emily", "Paul", "Donna", "Andrew", "Michelle", "Joshua", "Carol", "Kenneth", "Amanda", "Kevin", "Melissa",
    "Brian", "Deborah", "George", "Stephanie", "Timothy", "Rebecca", "Ronald", "Laura", "Jason", "Helen", "Edward",
    "Sharon", "Jeffrey", "Cynthia", "Ryan", "Kathleen", "Jacob", "Amy", "Gary", "Angela", "Nicholas", "Shirley",
    "Eric", "Anna", "Jonathan", "Brenda", "Stephen", "Pamela", "Larry", "Emma", "Justin", "Nicole", "Scott",
    "Samantha", "Brandon", "Katherine", "Benjamin", "Christine", "Samuel", "Debra", "Gregory", "Rachel", "Alexander",
    "Carolyn", "Frank", "Janet", "Patrick", "Maria", "Raymond", "Heather", "Jack", "Diane", "Dennis", "Julie",
    "Jerry", "Joyce", "Tyler", "Victoria", "Aaron", "Kelly"
)
LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
    "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young",
    "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker",
    "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans", "Turner", "Diaz",
    "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales", "Murphy", "Cook", "Rogers",
    "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson", "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox",
    "Ward", "Richardson", "Watson", "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz",
    "Hughes", "Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez",
    "Powell", "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler", "Henderson", "Barnes",
    "Gonzales", "Fisher", "Vasquez", "Simmons", "Romero", "Jordan", "Patterson", "Alexander", "Hamilton", "Graham"
)
TRADES = ("Plumbing", "Heating & Cooling", "HVAC", "Electric", "Landscaping", "Lawn Care", "Pest Control",
          "Pool Service", "Roofing", "Garage Doors", "Appliance Repair", "Cleaning Services", "Handyman Services",
          "Property Management", "Dental Group", "Family Restaurant", "Auto Body", "Veterinary Clinic", "Bakery",
          "Fitness Center", "Realty", "Storage", "Car Wash", "Hardware", "Laundromat", "Salon", "Daycare",
          "Apartments", "Builders", "Medical Offices")
ADJECTIVES = ("Desert", "Sunrise", "Pinnacle", "Blue Sky", "Evergreen", "Summit", "Golden", "Red Rock", "Cactus",
              "Canyon", "Mesa", "Valley", "Silver", "Liberty", "Heritage", "Oak", "Maple", "Cedar", "Prairie",
              "Lakeside", "Harbor", "Northside", "Southwest", "Eastgate", "Westwood", "Pioneer", "Frontier", "Ace",
              "Premier", "Reliable", "Precision", "Allied", "United", "Metro", "Coastal", "Mountain View", "Riverbend")
SUFFIXES = ("", "", "", " LLC", " Inc.", " Co.", ", Inc.", " Corp.", " Group", " & Sons", " Ltd.")
STREETS = ("Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Elm St", "Washington Blvd", "Lake Rd", "Hill St",
           "Park Ave", "Pine St", "Sunset Blvd", "Camelback Rd", "Indian School Rd", "Central Ave", "Broadway",
           "Mill Ave", "University Dr", "Baseline Rd", "Southern Ave", "McDowell Rd", "Thomas Rd", "Bell Rd",
           "Scottsdale Rd", "Rural Rd", "Country Club Dr", "Gilbert Rd", "Alma School Rd", "Dobson Rd", "Ray Rd",
           "Chandler Blvd", "Warner Rd", "Elliot Rd", "Guadalupe Rd", "Cactus Rd", "Shea Blvd", "Union Hills Dr")
STREET_DIRECTIONS = ("", "", "N ", "S ", "E ", "W ")
CITIES = (("Phoenix", "AZ", "850"), ("Tempe", "AZ", "852"), ("Mesa", "AZ", "852"), ("Scottsdale", "AZ", "852"),
          ("Tucson", "AZ", "857"), ("Carefree", "AZ", "853"), ("Austin", "TX", "787"), ("Dallas", "TX", "752"),
          ("Houston", "TX", "770"), ("San Antonio", "TX", "782"), ("Denver", "CO", "802"), ("Boulder", "CO", "803"),
          ("Las Vegas", "NV", "891"), ("Reno", "NV", "895"), ("San Diego", "CA", "921"), ("Sacramento", "CA", "958"),
          ("Fresno", "CA", "937"), ("Portland", "OR", "972"), ("Boise", "ID", "837"), ("Albuquerque", "NM", "871"),
          ("Salt Lake City", "UT", "841"), ("Orlando", "FL", "328"), ("Tampa", "FL", "336"), ("Atlanta", "GA", "303"),
          ("Charlotte", "NC", "282"), ("Nashville", "TN", "372"), ("Columbus", "OH", "432"), ("Chicago", "IL", "606"))
SALES_TAX = {"AZ": "0.0860", "TX": "0.0825", "CO": "0.0790", "NV": "0.0838", "CA": "0.0775", "OR": "0.0000",
             "ID": "0.0600", "NM": "0.0763", "UT": "0.0719", "FL": "0.0700", "GA": "0.0740", "NC": "0.0700",
             "TN": "0.0955", "OH": "0.0750", "IL": "0.0880"}
EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com")
NON_ASCII = ("Müller Heizung & Sanitär", "José's Café", "Łódź Pierogi House", "Ñandú Landscaping",
             "Søren's Smørrebrød", "Crème Brûlée Bakery", "São Paulo Grill", "Zürich Watch Repair",
             "Björk & Åsa Interiors", "Café Olé", "Dvořák Music School", "Nguyễn Nail Spa", "北京 Garden Restaurant",
             "Αθήνα Greek Taverna", "Привет Market")
NON_ASCII_PEOPLE = (("José", "Núñez"), ("Zoë", "Åkesson"), ("François", "Lefèvre"), ("Chloé", "Gonçalves"),
                    ("Jürgen", "Weiß"), ("Małgorzata", "Wójcik"), ("Søren", "Kierkegård"), ("Renée", "Dubé"))
JOB_TYPES = ("Maintenance", "Install", "Repair", "Inspection", "Emergency Call", "Estimate", "Warranty",
             "Seasonal Service", "Preventive Maintenance", "Commercial Service", "Residential Service", "Callback")
PROJECTS = ("Kitchen Remodel", "Backyard Redesign", "New Construction", "Phase 2", "Annual Contract",
            "Tenant Improvement", "Water Heater Replacement", "Roof Replacement", "Sprinkler Retrofit")
# (name, platform type, price, cost, taxable)
ITEMS = (
    ('Service Call', 'service', '89.00', None, False),
    ('Labor - Hourly', 'service', '95.00', None, False),
    ('Emergency Labor - Hourly', 'service', '145.00', None, False),
    ('Diagnostic Fee', 'service', '75.00', None, False),
    ('Annual Maintenance Plan', 'service', '199.00', None, False),
    ('Drain Cleaning', 'service', '159.00', None, False),
    ('Filter 16x25x1', 'inventory', '12.50', '4.10', True),
    ('Filter 20x25x4', 'inventory', '38.00', '14.75', True),
    ('Capacitor 45/5 MFD', 'inventory', '65.00', '11.20', True),
    ('Contactor 30A', 'inventory', '48.00', '9.80', True),
    ('PVC Pipe 1in x 10ft', 'non_inventory', '9.75', '3.40', True),
    ('Copper Fitting 3/4in', 'non_inventory', '4.25', '1.10', True),
    ('Refrigerant R-410A (lb)', 'non_inventory', '85.00', '22.00', True),
    ('Mulch (cubic yard)', 'non_inventory', '45.00', '18.00', True),
    ('Water Heater 50 gal', 'equipment', '1450.00', '780.00', True),
    ('Condenser 3 Ton', 'equipment', '3200.00', '1875.00', True),
    ('Garage Door Opener', 'equipment', '425.00', '190.00', True),
    ('Pool Pump 1.5HP', 'equipment', '899.00', '455.00', True),
    ('Sprinkler Head', 'inventory', '6.50', '1.90', True),
    ('Thermostat Smart', 'equipment', '249.00', '120.00', True),
    ('Trip Charge', 'service', '35.00', None, False),
    ('Disposal Fee', 'non_inventory', '25.00', None, False),
    ('Weed Control Treatment', 'service', '65.00', None, False),
    ('Termite Inspection', 'service', '125.00', None, False),
)
# (name, QuickBooks Type, price, cost, taxable): the QuickBooks sample company's own items
QBO_ONLY_ITEMS = (
    ('Consulting', 'Service', '150.00', None, False),
    ('Hours', 'Service', '0.00', None, False),
    ('Design', 'Service', '75.00', None, False),
    ('Rocks', 'NonInventory', '22.00', '10.00', True),
    ('Sod', 'Inventory', '4.50', '2.00', True),
    ('Sprinklers', 'Inventory', '8.00', '3.00', True),
)
